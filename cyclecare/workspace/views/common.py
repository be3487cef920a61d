"""What every clinician page shares: who may open it."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from clinician.permissions import acting_clinician


def clinician_required(view):
    """Signed in (else to the login page) and an active clinician (else a 403 with no data).

    The view is called as ``view(request, clinician, *args, **kwargs)``.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        clinician = acting_clinician(request.user)
        if clinician is None:
            return render(request, "workspace/forbidden.html", status=403)
        return view(request, clinician, *args, **kwargs)

    return never_cache(login_required(wrapped))

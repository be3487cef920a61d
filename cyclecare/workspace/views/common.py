"""What every clinician page shares: who may open it."""

from functools import wraps

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from clinician.permissions import acting_clinician


def clinician_required(view=None, *, landing: bool = False):
    """Signed in (else to the login page) and an active clinician (else a 403 with no data).

    The view is called as ``view(request, clinician, *args, **kwargs)``. ``landing`` marks the
    page sign-in lands on by default (the caseload): it sends a signed-out visitor to sign in
    without ``?next``, so that sign-in lands each role where it should (a practice admin on
    their practice: ``clinician.auth.ClinicAccountAdapter``) instead of back here.
    """
    if view is None:
        return lambda view: clinician_required(view, landing=landing)

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        clinician = acting_clinician(request.user)
        if clinician is None:
            return render(request, "workspace/forbidden.html", status=403)
        return view(request, clinician, *args, **kwargs)

    return never_cache(login_required(wrapped, redirect_field_name=None if landing else REDIRECT_FIELD_NAME))

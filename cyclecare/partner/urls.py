"""The partner's pages, mounted by cyclecare.urls under ``p/`` (namespace ``cyclecare:partner``).

A token is always one whole path segment, so the log filter (clinician.logging) redacts it.
"""

from django.urls import path

from . import views

app_name = "partner"

urlpatterns = [
    path("c/<str:token>/", views.checkin, name="checkin"),
    path("h/<str:token>/", views.home_link, name="home-link"),
    path("r/<str:token>/", views.records_download, name="records"),
    path("thanks/", views.thanks, name="thanks"),
    path("home/", views.home, name="home"),
    path("episode/", views.episode, name="episode"),
    path("checkins/<int:checkin_id>/share/", views.checkin_share, name="checkin-share"),
    path("sign-out/", views.sign_out, name="sign-out"),
]

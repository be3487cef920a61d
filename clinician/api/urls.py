from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("practices", views.PracticeViewSet, basename="practice")
router.register("clinicians", views.ClinicianViewSet, basename="clinician")

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("couples", views.CoupleViewSet, basename="couple")
router.register("partners", views.PartnerViewSet, basename="partner")

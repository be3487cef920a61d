"""Shapes of practices and clinicians in the API. No rules here: writes are validated by the
services. (Sessions, notes and addenda, the couple's clinical record: couples.api.sessions.)"""

from rest_framework import serializers

from clinician.models import Clinician, Practice


class PracticeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Practice
        fields = ["id", "name", "slug", "time_zone", "created_at"]
        read_only_fields = fields


class ClinicianSerializer(serializers.ModelSerializer):
    class Meta:
        model = Clinician
        fields = [
            "id",
            "display_name",
            "role",
            "credentials",
            "licence_jurisdiction",
            "is_prelicensed",
            "supervisor",
            "is_active",
        ]
        # Clinicians are managed by the practice admin, not through the API.
        read_only_fields = fields

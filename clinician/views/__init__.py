"""Clinician sign-in and sign-out (``auth``); the workspace pages are ``cyclecare.workspace``,
which mounts these routes beside its own."""

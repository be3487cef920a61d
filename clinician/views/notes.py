"""Session notes: write (autosaved draft), sign, addenda, co-signature, print."""

urlpatterns: list = []

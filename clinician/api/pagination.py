from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NewestFirstCursorPagination(CursorPagination):
    """For growing streams (episodes, occurrences, check-ins): stable under inserts.
    Views set ``cursor_ordering``; the id breaks ties."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request, queryset, view):
        return getattr(view, "cursor_ordering", ("-created_at", "-id"))

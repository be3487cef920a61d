"""The locust users of bench/load_bench.py (run by it as ``locust --headless -f`` in a process of
its own: locust monkey-patches the standard library with gevent, which the bench's own Django
process must not be).

The bench writes a plan (JSON, path in ``LOAD_BENCH_PLAN``) before it starts locust:

- ``partners``: one list of check-in link tokens per partner (each link is single-use, for one
  occurrence). Each PartnerUser is one partner's phone: it opens its next link (GET), reads the
  CSRF token and the instrument marker from the form, and submits the check-in (POST) with the
  cookies the GET set and the Origin a browser sends. The cookies are kept by hand: they are
  Secure (production settings) and the bench speaks plain HTTP to gunicorn behind a pretend TLS
  proxy, which locust's cookie jar does not send them over. A successful submit is a 302 to the
  thanks page.
- ``clinicians``: a signed-in session cookie per clinician and the couples they treat. Each
  ClinicianUser opens the caseload and then one of its couples' pages.

Every request's name, status and latency go to ``LOAD_BENCH_RESULT`` (JSON) when the test
stops; the bench computes throughput and percentiles from them and checks the database.
"""

import json
import os
import re
import time
from collections import defaultdict
from http.cookies import SimpleCookie
from itertools import count

from locust import FastHttpUser, between, events, task

PLAN = json.loads(open(os.environ["LOAD_BENCH_PLAN"]).read())  # noqa: PTH123, SIM115
RESULT_PATH = os.environ["LOAD_BENCH_RESULT"]
ORIGIN = PLAN["origin"]  # what the browser would send: the site's own https origin
BASE_HEADERS = {"X-Forwarded-Proto": "https"}  # the TLS proxy in front of production
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
INSTRUMENT_FIELD = re.compile(r'name="instrument" value="([^"]+)"')
ANSWERS = {"cycle_showed_up": "yes", "my_move": "toward", "connection": "7"}

_partner_seats = count()
_clinician_seats = count()
RECORDED: dict[str, dict] = defaultdict(lambda: {"latencies_ms": [], "statuses": defaultdict(int)})
STARTED: list[float] = []
ERRORS: list[str] = []


@events.request.add_listener
def _record(request_type, name, response_time, response, exception, **kwargs) -> None:
    entry = RECORDED[name]
    entry["latencies_ms"].append(response_time)
    status = getattr(response, "status_code", 0) or 0
    entry["statuses"][str(status)] += 1
    if exception is not None and len(ERRORS) < 20:
        ERRORS.append(f"{name}: {type(exception).__name__}: {str(exception)[:200]}")


@events.test_start.add_listener
def _started(environment, **kwargs) -> None:
    STARTED.append(time.time())


@events.test_stop.add_listener
def _stopped(environment, **kwargs) -> None:
    result = {
        "started": STARTED[0] if STARTED else time.time(),
        "stopped": time.time(),
        "requests": {
            name: {**entry, "statuses": dict(entry["statuses"])} for name, entry in RECORDED.items()
        },
        "errors": ERRORS,
    }
    with open(RESULT_PATH, "w") as out:  # noqa: PTH123
        json.dump(result, out)


def _keep_cookies(jar: dict[str, str], response) -> None:
    """What a browser keeps of a response's Set-Cookie headers (name and value; this origin)."""
    headers = getattr(response, "headers", None)
    for header in headers.getlist("set-cookie") if headers is not None else []:
        parsed = SimpleCookie()
        parsed.load(header)
        jar.update({name: morsel.value for name, morsel in parsed.items()})


class PartnerUser(FastHttpUser):
    """A partner opening their reminder link and submitting the check-in."""

    fixed_count = int(os.environ.get("LOAD_BENCH_PARTNERS", "200"))
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        seat = next(_partner_seats)
        self.tokens = (
            list(PLAN["partners"][seat % len(PLAN["partners"])]) if seat < len(PLAN["partners"]) else []
        )

    @task
    def check_in(self) -> None:
        if not self.tokens:
            self.wait()  # out of links: idle rather than reuse one
            return
        token = self.tokens.pop(0)
        self.jar: dict[str, str] = getattr(self, "jar", {})
        path = f"/p/c/{token}/"
        with self.client.get(
            path, name="partner GET /p/c/<token>/", headers=BASE_HEADERS, catch_response=True
        ) as page:
            csrf = CSRF_FIELD.search(page.text or "")
            instrument = INSTRUMENT_FIELD.search(page.text or "")
            if page.status_code != 200 or not csrf or not instrument:
                page.failure(f"check-in page {page.status_code}")
                return
            page.success()
            _keep_cookies(self.jar, page)
        form = {"csrfmiddlewaretoken": csrf.group(1), "instrument": instrument.group(1), **ANSWERS}
        headers = {
            **BASE_HEADERS,
            "Cookie": "; ".join(f"{name}={value}" for name, value in self.jar.items()),
            "Origin": ORIGIN,
            "Referer": f"{ORIGIN}{path}",
        }
        with self.client.post(
            path,
            data=form,
            name="partner POST /p/c/<token>/",
            headers=headers,
            allow_redirects=False,
            catch_response=True,
        ) as submit:
            _keep_cookies(self.jar, submit)
            location = submit.headers.get("Location", "") if submit.headers else ""
            if submit.status_code == 302 and location.endswith("/p/thanks/"):
                submit.success()
            else:
                submit.failure(f"submit {submit.status_code} {location}")


class ClinicianUser(FastHttpUser):
    """A signed-in clinician browsing the caseload and their couples' pages."""

    fixed_count = int(os.environ.get("LOAD_BENCH_CLINICIANS", "20"))
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        seat = next(_clinician_seats)
        clinician = PLAN["clinicians"][seat % len(PLAN["clinicians"])]
        self.headers = {**BASE_HEADERS, "Cookie": clinician["cookie"]}
        self.couples = clinician["couples"]
        self.turn = seat

    def _get(self, path: str, name: str) -> None:
        with self.client.get(
            path, name=name, headers=self.headers, allow_redirects=False, catch_response=True
        ) as page:
            if page.status_code == 200:
                page.success()
            else:
                page.failure(f"{page.status_code} {page.headers.get('Location', '') if page.headers else ''}")

    @task(1)
    def caseload(self) -> None:
        self._get("/clinic/", "clinician GET /clinic/ (caseload)")

    @task(3)
    def couple_page(self) -> None:
        self.turn += 1
        couple = self.couples[self.turn % len(self.couples)]
        self._get(f"/clinic/couples/{couple}/", "clinician GET /clinic/couples/<id>/")

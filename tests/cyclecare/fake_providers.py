"""Real servers on 127.0.0.1 for the reminder tests: an SMTP server (aiosmtpd) and an SMS
provider that speaks JSON over HTTP and honours Idempotency-Key, each in a thread."""

import email
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from aiosmtpd.controller import Controller


# SMTP
# ------------------------------------------------------------------------------
class Inbox:
    """An aiosmtpd handler: keeps each message it accepts; refuses addresses in ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


class EphemeralController(Controller):
    """aiosmtpd's Controller on port 0: the operating system picks a free port."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def smtp_server() -> tuple[EphemeralController, Inbox]:
    inbox = Inbox()
    controller = EphemeralController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    return controller, inbox


# SMS PROVIDER
# ------------------------------------------------------------------------------
class SmsProvider:
    """What the fake provider saw. ``texts`` are the messages it "sent" — one per
    Idempotency-Key; a repeated key gets the first answer back and sends nothing.
    ``statuses`` are answered first (then 201s); ``hold`` makes it wait after recording a text
    and before answering (``received`` is set when it starts waiting)."""

    def __init__(self) -> None:
        self.requests: list[SimpleNamespace] = []
        self.texts: dict[str, dict] = {}
        self.statuses: list[int] = []
        self.url = ""
        self.hold = threading.Event()
        self.hold.set()
        self.received = threading.Event()
        self.lock = threading.Lock()


def sms_provider():
    seen = SmsProvider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            key = self.headers.get("Idempotency-Key", "")
            with seen.lock:
                seen.requests.append(SimpleNamespace(headers=self.headers, body=json.loads(body), key=key))
                status = seen.statuses.pop(0) if seen.statuses else 201
                if status < 300 and key not in seen.texts:
                    seen.texts[key] = {"id": f"SM{len(seen.texts) + 1:04d}", **json.loads(body)}
                answer = {"id": seen.texts[key]["id"]} if status < 300 else {"error": "echo +15555550101"}
            seen.received.set()
            seen.hold.wait(timeout=30)
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client is gone (a killed worker)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}/v1/messages"

    def stop() -> None:
        seen.hold.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return seen, stop

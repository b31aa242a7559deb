"""gunicorn's sync and threaded workers, answering what gunicorn itself refuses as problem+json.

gunicorn answers a request it cannot parse (a request line or headers too long, a bad header,
Content-Length beside Transfer-Encoding) before the app sees it, with an HTML page. These
workers answer those as the app answers everything else. They also stop waiting for a client
that stops sending: after CLIENT_TIMEOUT seconds without a byte, its request is answered 408
instead of holding the worker (or its thread) until gunicorn kills it (WORKER_TIMEOUT) and
answers 500. At SIGTERM, requests waiting on the event feed (GET /events?wait=) end within a
second, so that a stop does not wait out their long polls.
Named by gunicorn.conf.py (worker_class); behind nginx, nginx answers most of these first.
"""

import os
import uuid
from http import HTTPStatus

from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker
from werkzeug.exceptions import RequestTimeout

from app import feed
from app.errors import PROBLEM_JSON, Problem, problem_response

DEFAULT_CLIENT_TIMEOUT = 10

# Refused by gunicorn's parser: the first class an error is an instance of gives its status.
_REFUSED = (
    (errors.LimitRequestLine, 414),
    (errors.LimitRequestHeaders, 431),
    (errors.UnsupportedTransferCoding, 501),
    (errors.ExpectationFailed, 417),
    (errors.ForbiddenProxyRequest, 403),
)
# The app's faults or the server's, though gunicorn raises them while parsing.
_NOT_THE_CLIENTS = (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName, errors.ConfigurationProblem)


def client_timeout(worker_timeout: float) -> float:
    """CLIENT_TIMEOUT: seconds to wait for the next bytes of a request. ValueError unless it is
    positive and below the worker's timeout (past it, gunicorn kills the worker first)."""
    raw = os.environ.get("CLIENT_TIMEOUT") or str(DEFAULT_CLIENT_TIMEOUT)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0
    if not 0 < seconds < (worker_timeout or float("inf")):
        limit = f"above 0 and below WORKER_TIMEOUT ({worker_timeout})"
        raise ValueError(f"CLIENT_TIMEOUT must be seconds {limit}, got {raw!r}")
    return seconds


class ClientTimeout(RequestTimeout):
    """The client sent nothing for CLIENT_TIMEOUT seconds in the middle of its request.
    An HTTPException: met while the app reads the body, the app answers it (408)."""

    def __init__(self, seconds: float):
        super().__init__(f"The request stopped arriving: nothing came for {seconds:g} seconds.")


class _ClientSocket:
    """The client's socket, whose reads give up after ``seconds`` of silence with ClientTimeout.
    Once gunicorn sets a timeout of its own (to drain the socket and close it), its reads
    time out as a socket's do, which gunicorn expects there."""

    def __init__(self, sock, seconds: float):
        sock.settimeout(seconds)
        self._sock, self._seconds, self._reading_request = sock, seconds, True

    def recv(self, *args):
        try:
            return self._sock.recv(*args)
        except TimeoutError:
            if not self._reading_request:
                raise
            raise ClientTimeout(self._seconds) from None

    def settimeout(self, seconds):
        self._reading_request = False
        self._sock.settimeout(seconds)

    def setblocking(self, flag):
        """The threaded worker makes the socket blocking for each request it reads (and
        non-blocking while it waits in the poller for the next): a request reads with the timeout."""
        if flag:
            self._reading_request = True
            self._sock.settimeout(self._seconds)
        else:
            self._sock.setblocking(False)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _ProblemAnswers:
    """What both workers share: their settings, the stop of feed waits, and problem+json errors."""

    def init_process(self):
        self.client_timeout = client_timeout(self.cfg.timeout)
        super().init_process()

    def handle_exit(self, sig, frame):
        feed.stop_waiting()  # only sets a flag: safe in a signal handler
        super().handle_exit(sig, frame)

    def handle_error(self, req, client, addr, exc):
        """Answer ``exc`` as problem+json and log it as gunicorn would (a warning for the
        client's error, the traceback for anything else)."""
        request_id = uuid.uuid4().hex
        problem = self._problem(exc)
        ip = (addr or ("",))[0]
        if problem.status == 500:
            self.log.exception("Error handling request [%s] %s", request_id, getattr(req, "uri", "(no URI read)"))
        else:
            self.log.warning("Invalid request from ip=%s [%s]: %s", ip, request_id, problem.detail)
        try:
            client.sendall(_answer(problem, request_id))
        except OSError:
            self.log.debug("Failed to send error message.")

    @staticmethod
    def _problem(exc: BaseException) -> Problem:
        if isinstance(exc, ClientTimeout):
            return Problem(408, exc.description)
        if isinstance(exc, errors.ParseException) and not isinstance(exc, _NOT_THE_CLIENTS):
            status = next((status for kind, status in _REFUSED if isinstance(exc, kind)), 400)
            return Problem(status, str(exc) or HTTPStatus(status).phrase)
        return Problem(500, "The server could not answer this request.")


class ProblemWorker(_ProblemAnswers, SyncWorker):
    """gunicorn's sync worker: problem+json for what it refuses, 408 for a client gone quiet."""

    def handle(self, listener, client, addr):
        super().handle(listener, _ClientSocket(client, self.client_timeout), addr)


class ProblemThreadWorker(_ProblemAnswers, ThreadWorker):
    """gunicorn's threaded worker (gthread), the same way: for requests that wait (the feed's
    long polls), which hold a thread each instead of a whole process."""

    def enqueue_req(self, conn):
        """Runs in the worker's main thread before each request of a connection goes to a thread."""
        if not isinstance(conn.sock, _ClientSocket):
            conn.sock = _ClientSocket(conn.sock, self.client_timeout)
        super().enqueue_req(conn)


def _answer(problem: Problem, request_id: str) -> bytes:
    """The whole HTTP answer; the connection closes after it (where the request ends is unknown)."""
    body = problem_response(problem).get_data()
    status = HTTPStatus(problem.status)
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body

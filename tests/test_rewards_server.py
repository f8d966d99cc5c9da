"""The HTTP reward server, over loopback with a real client, the way OpenRLHF posts to it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from evalkit.rewards.server import RewardServer

EVALKIT = [sys.executable, "-c", "from evalkit.cli import main; main()"]
PROMPT = "<|im_start|>user\nWhat is 6*7?<|im_end|>\n<|im_start|>assistant\n"


def query(answer: str) -> str:
    return PROMPT + f"<think>\n6*7 = 42\n</think>\nSo $\\boxed{{{answer}}}$<|im_end|>"


@pytest.fixture
def server():
    with RewardServer("127.0.0.1", 0, max_concurrency=2) as s:
        yield s


def test_get_reward_in_openrlhf_protocol(server):
    payload = {"query": [query("42"), query("41"), query("42")], "prompts": [PROMPT] * 3, "labels": ["42", "42", None]}
    r = httpx.post(f"{server.url}/get_reward", json=payload, timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["rewards"] == [1.0, 0.0, 0.0]  # OpenRLHF reads response["rewards"]
    assert body["scores"] == [1.0, 0.0, 0.0]
    assert body["extra_logs"]["unjudged"] == [0.0, 0.0, 1.0]  # no label: unjudged, scored 0.0
    assert body["reasons"] == ["correct", "wrong", "error"]


def test_the_server_and_the_file_form_take_verifier_options(monkeypatch):
    # OpenRLHF could not have require_box or GPQA's four letters: TRL and veRL could
    plain = PROMPT + "<think>\n6*7 = 42\n</think>\nThe answer is 42.<|im_end|>"
    payload = {"query": [plain, query("42")], "prompts": [PROMPT] * 2, "labels": ["42", "42"]}
    with RewardServer("127.0.0.1", 0, verifier_options={"require_box": True}) as strict:
        body = httpx.post(f"{strict.url}/get_reward", json=payload, timeout=30).json()
    assert body["rewards"] == [0.0, 1.0] and body["reasons"] == ["no_answer", "correct"]
    gpqa = PROMPT + "<think>\nE is out of range\n</think>\nAnswer: E<|im_end|>"
    with RewardServer("127.0.0.1", 0, verifier="choice", verifier_options={"letters": "ABCD"}) as four:
        body = httpx.post(f"{four.url}/get_reward", json={"query": [gpqa], "prompts": [PROMPT], "labels": ["E"]},
                          timeout=30).json()
    assert body["extra_logs"]["unjudged"] == [1.0]  # gold E is no option of four
    from evalkit.errors import InputError

    with pytest.raises(InputError, match="refuses its options"):
        RewardServer("127.0.0.1", 0, verifier_options={"require_box": "yes"})
    from evalkit.rewards.openrlhf import reward_func

    monkeypatch.setenv("EVALKIT_REWARD_OPTIONS", '{"require_box": true}')
    assert reward_func([plain, query("42")], [PROMPT] * 2, ["42", "42"])["rewards"].tolist() == [0.0, 1.0]
    monkeypatch.setenv("EVALKIT_REWARD_OPTIONS", "require_box")  # not JSON: logged, the batch unjudged, no raise
    out = reward_func([plain, query("42")], [PROMPT] * 2, ["42", "42"])
    assert out["rewards"].tolist() == [0.0, 0.0] and out["extra_logs"]["unjudged"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("body, status, says", [
    (b"{not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (json.dumps({"prompts": ["p"]}).encode(), 400, "'query'"),
    (json.dumps({"query": ["a", "b"], "labels": ["1"]}).encode(), 400, "'labels' must be a list as long as"),
    (json.dumps({"query": [1, 2]}).encode(), 400, "list of strings"),
    # no labels (OpenRLHF started without --label_key): every row scored 0, unjudged, with a 200
    (json.dumps({"query": ["a"], "prompts": [""]}).encode(), 400, "'labels' is missing or empty: the gold answers"),
    (json.dumps({"query": ["a", "b"], "labels": ["", None]}).encode(), 400, "'labels' is missing or empty"),
    (json.dumps({"query": ["a"], "think_format": "bogus"}).encode(), 400, "names a built-in think format"),
    # a request may not have the server read a file of the client's choosing
    (json.dumps({"query": ["a"], "think_format": "/etc/formats.yaml"}).encode(), 400, "not '/etc/formats.yaml'"),
    (json.dumps({"query": ["a"], "think_format": 5}).encode(), 400, "'think_format': expected a think format"),
    (json.dumps({"query": ["a"], "think_format": ["sky"]}).encode(), 400, "'think_format': expected a think format"),
    pytest.param(b'{"query": ["a"], "labels": [' + b"[" * 100000 + b"]" * 100000 + b"]}", 400, "nested too deeply",
                 id="deeply-nested"),
])
def test_malformed_requests_get_a_clear_4xx_and_the_server_keeps_serving(server, body, status, says):
    r = httpx.post(f"{server.url}/get_reward", content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status
    assert says in r.json()["error"]
    ok = httpx.post(f"{server.url}/get_reward", json={"query": [query("42")], "prompts": [PROMPT], "labels": ["42"]},
                    timeout=30)
    assert ok.status_code == 200 and ok.json()["rewards"] == [1.0]


def test_other_methods_the_alias_and_bad_code_labels_get_json_answers(server):
    # PUT was http.server's 501 with an HTML page; `"query": null` hid its alias `queries`
    r = httpx.put(f"{server.url}/get_reward", json={}, timeout=10)
    assert r.status_code == 405 and "method PUT not allowed" in r.json()["error"] and r.headers["Allow"] == "GET, HEAD, POST"
    r = httpx.post(f"{server.url}/get_reward", json={"query": None, "queries": [query("42")], "labels": ["42"]},
                   timeout=30)
    assert r.status_code == 200 and r.json()["rewards"] == [1.0]
    # a code-test label nested too deeply to read was a 500 with a traceback, and failed every row of the request;
    # a label that is no test says why in `details`, not only in the server's log
    deep = '{"style": "call", "entry_point": "f", "cases": [{"input": ' + "[" * 50000 + "]" * 50000 + ', "output": 1}]}'
    bogus = json.dumps({"style": "bogus", "cases": []})
    r = httpx.post(f"{server.url}/get_reward", json={"query": [query("42")] * 3, "labels": ["42", deep, bogus]},
                   timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rewards"] == [1.0, 0.0, 0.0] and body["extra_logs"]["unjudged"] == [0.0, 1.0, 1.0]
    assert "nested too deeply" in body["details"][1] and "'style' must be assert, call or stdio" in body["details"][2]


def test_unknown_endpoint_is_404_and_health_reports(server):
    assert httpx.post(f"{server.url}/nope", json={}, timeout=10).status_code == 404
    httpx.post(f"{server.url}/get_reward", json={"query": [query("42")], "labels": ["42"]}, timeout=30)
    health = httpx.get(f"{server.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "verifier": "math", "served": 1, "in_flight": 0}
    # a load balancer's HEAD check was http.server's 501: it gets GET's status and headers, and no body
    head = httpx.head(f"{server.url}/health", timeout=10)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 0
    assert httpx.head(f"{server.url}/nope", timeout=10).status_code == 404


def test_concurrent_clients_each_get_their_own_answers(server):
    def ask(i: int) -> list[float]:
        labels = [str(42 + i % 2)] * 2
        r = httpx.post(f"{server.url}/get_reward", json={"query": [query("42"), query("43")],
                                                         "prompts": [PROMPT] * 2, "labels": labels}, timeout=60)
        return r.json()["rewards"]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(ask, range(6)))
    assert results == [[1.0, 0.0], [0.0, 1.0]] * 3


def test_a_request_per_sample_all_at_once_is_never_refused():
    """OpenRLHF posts one request per sample (openrlhf.utils.agent), every sample of a batch at once:
    each connection must be taken, none reset because the listen queue was full."""
    import threading

    n = 160
    barrier = threading.Barrier(n)

    def ask(i: int) -> float:
        body = json.dumps({"query": [query(str(i))], "prompts": [PROMPT], "labels": [str(i)]}).encode()
        barrier.wait(30)
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as conn:
            conn.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
        return json.loads(reply.split(b"\r\n\r\n", 1)[1])["rewards"][0]

    with RewardServer("127.0.0.1", 0, max_concurrency=2) as server, ThreadPoolExecutor(n) as pool:
        assert list(pool.map(ask, range(n))) == [1.0] * n


def test_requests_made_at_once_are_checked_together_under_one_deadline():
    """A request per sample, many answers too slow to check: the requests in flight are checked side
    by side under one deadline, not 0.5 s each, one after another (or a few at a time)."""
    slow = [PROMPT + "<think>\nhm\n</think>\n$\\boxed{9^{9^{9^{9^{%d}}}}}$<|im_end|>" % (i + 2) for i in range(32)]
    with RewardServer("127.0.0.1", 0, per_answer_s=0.5, batch_deadline_s=1.5) as server:
        assert httpx.post(f"{server.url}/get_reward", json={"query": [query("42")], "labels": ["42"]},
                          timeout=30).json()["rewards"] == [1.0]  # the workers are up

        def ask(q: str) -> str:
            r = httpx.post(f"{server.url}/get_reward", json={"query": [q], "prompts": [PROMPT], "labels": ["1"]},
                           timeout=60)
            return r.json()["reasons"][0]

        t = time.monotonic()
        with ThreadPoolExecutor(len(slow)) as pool:
            reasons = list(pool.map(ask, slow))
        took = time.monotonic() - t
    assert reasons == ["timeout"] * len(slow)
    assert took < 10.0  # one after another: 16 s


def test_a_batch_of_one_request_per_sample_is_judged_in_one_round_not_64_at_a_time():
    """OpenRLHF posts a request per sample, a whole batch at once. The server judged 64 at a time, so the 512th of a
    batch waited eight rounds (30 s at a 2 s deadline) and OpenRLHF's client gave up on some; all of them in flight
    are now judged together (what /health counts as in flight)."""
    n = 100
    slow = [PROMPT + "<think>\nhm\n</think>\n$\\boxed{9^{9^{9^{9^{%d}}}}}$<|im_end|>" % (i + 2) for i in range(n)]
    with RewardServer("127.0.0.1", 0, per_answer_s=3.0, batch_deadline_s=4.0) as server:
        def ask(q: str) -> str:
            r = httpx.post(f"{server.url}/get_reward", json={"query": [q], "prompts": [PROMPT], "labels": ["1"]},
                           timeout=120)
            return r.json()["reasons"][0]

        with ThreadPoolExecutor(n) as pool:
            replies = [pool.submit(ask, q) for q in slow]
            most = 0
            while not all(r.done() for r in replies):
                most = max(most, httpx.get(f"{server.url}/health", timeout=30).json()["in_flight"])
                time.sleep(0.05)
            reasons = [r.result() for r in replies]
    assert reasons == ["timeout"] * n
    assert most > 64, most


def test_close_finishes_and_releases_the_port():
    s = RewardServer("127.0.0.1", 0).start()
    port = s.port
    assert httpx.get(f"{s.url}/health", timeout=10).status_code == 200
    s.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_close_does_not_wait_for_a_client_still_sending_its_request():
    s = RewardServer("127.0.0.1", 0).start()
    idle = socket.create_connection(("127.0.0.1", s.port), timeout=10)  # connected, sends nothing
    slow = socket.create_connection(("127.0.0.1", s.port), timeout=10)  # sends a byte now and then
    slow.sendall(b"POST /get_reward HTTP/1.0\r\nContent-Length: 100\r\n\r\n{")
    time.sleep(0.5)  # both handlers wait on their reads
    start = time.monotonic()
    s.close()  # nothing of theirs is in flight: their connections are cut, not waited for (60 s each read)
    took = time.monotonic() - start
    assert took < 10, took
    assert idle.recv(1) == b"" and slow.recv(1) == b""
    idle.close()
    slow.close()


def _trickle(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send `data` a byte every 0.2 s (each read the server makes gets a byte well within its 60 s)."""
    for byte in data:
        if stop.wait(0.2):
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return


def test_a_client_trickling_its_request_gets_a_408_at_the_deadline_and_others_are_served():
    s = RewardServer("127.0.0.1", 0, request_deadline_s=2).start()
    stop = threading.Event()
    body = json.dumps({"query": [PROMPT + "<think>\nhm\n</think>\n$\\boxed{42}$"], "labels": ["42"]}).encode()
    head = b"POST /get_reward HTTP/1.0\r\nContent-Length: %d\r\n" % len(body)
    try:
        in_body = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        in_body.sendall(head + b"\r\n")
        in_headers = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        trickles = [threading.Thread(target=_trickle, args=(in_body, body, stop)),
                    threading.Thread(target=_trickle, args=(in_headers, head + b"X-Pad: " + b"a" * 200, stop))]
        for t in trickles:
            t.start()
        start = time.monotonic()
        replies = []
        for sock in (in_body, in_headers):
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            replies.append(data)
        took = time.monotonic() - start
        # a whole request sent meanwhile is judged as ever
        ok = httpx.post(f"{s.url}/get_reward", json=json.loads(body), timeout=20)
        assert ok.status_code == 200 and ok.json()["rewards"] == [1.0]
    finally:
        stop.set()
        s.close()
    assert took < 10, took
    for data in replies:
        status, _, payload = data.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.0 408"), data[:200]
        assert "did not all arrive within 2 s" in json.loads(payload)["error"]


def test_serve_rewards_command_shuts_down_cleanly_on_sigterm():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([*EVALKIT, "serve-rewards", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        r = httpx.post(f"{url}/get_reward", json={"query": [query("42")], "prompts": [PROMPT], "labels": ["42"]},
                       timeout=30)
        assert r.json()["rewards"] == [1.0]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "stopped" in err and "Traceback" not in err


def test_serve_rewards_rejects_an_unknown_verifier():
    proc = subprocess.run([*EVALKIT, "serve-rewards", "--verifier", "nonesuch"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "nonesuch" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, says", [
    (["--think-format", "bogus"], "--think-format: unknown think format 'bogus'"),
    (["--port", "70000"], "70000 is not in the range"),
    (["--batch-deadline", "inf"], "expected a finite number of seconds above 0, got 'inf'"),  # every answer timed out
    (["--per-answer-timeout", "nan"], "expected a finite number of seconds above 0, got 'nan'"),
    (["--verifier", "judge"], "--verifier: the judge wraps a rule verifier"),
    (["--verifier", "math+judge"], "--verifier: the judge needs model and base_url"),
    (["--max-concurrency", "0"], "0 is not in the range x>=1"),  # was served as 1, silently
    # an unset shell variable: found at the start of every query, so the whole query was scored as the answer
    (["--separator", ""], "--separator is empty"),
    (["--option", "require_box=maybe"], "--option: verifier 'math' refuses its options"),
    (["--verifier", "choice", "--option", "letters=AB1"], "--option: verifier 'choice' refuses its options"),
    (["--option", "require_box"], "--option 'require_box': expected KEY=VALUE"),
])
def test_serve_rewards_refuses_bad_options_before_serving(args, says):
    proc = subprocess.run([*EVALKIT, "serve-rewards", "--port", "0", *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr
    from evalkit.errors import InputError

    with pytest.raises(InputError, match="unknown think format"):
        RewardServer("127.0.0.1", 0, think_format="bogus")

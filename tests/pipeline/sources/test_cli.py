"""`ledgerline source ...` as a real subprocess against the sandboxes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.pipeline.sources.conftest import AFAS_TOKEN, REDIRECT


def test_add_an_afas_source_choose_an_administration_and_list_it(cli, afas, tmp_path):
    token_file = tmp_path / "token.txt"
    token_file.write_text(AFAS_TOKEN + "\n")
    added = cli.json(
        "source", "add", "afas", "--name", "AFAS", "--environment", "12345", "--token-name", "Ledgerline",
        "--token-file", str(token_file), "--base-url", afas.url,
    )  # fmt: skip
    assert (added["status"], added["config"]["environment"]) == ("attention", "12345")
    chosen = cli.json("source", "select", "AFAS", "2")
    assert [(e["name"], e["active"]) for e in chosen] == [("Demo Services BV", True)]
    listed = cli("source", "list")
    assert listed.returncode == 0 and "available" in listed.stdout
    for result in (listed,):
        assert AFAS_TOKEN not in result.stdout + result.stderr


def test_exact_connect_url_carries_the_app_and_a_state(cli, exact, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(exact.client_secret)
    result = cli(
        "source", "add", "exact", "--name", "Exact", "--client-id", exact.client_id,
        "--client-secret-file", str(secret), "--redirect-uri", REDIRECT, "--base-url", exact.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Sign in at Exact Online" in result.stdout
    url = cli("source", "connect-url", "Exact").stdout.strip()
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{exact.url}/api/oauth2/auth"
    assert query["client_id"] == [exact.client_id] and query["redirect_uri"] == [REDIRECT]
    assert len(query["state"][0]) >= 40

"""Agent password hashes: a configured ``password_hash`` that is not a scrypt hash frontdesk can
check is refused when the configuration is loaded (file or admin API), naming the field, instead
of turning every login of that agent into a server error."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from frontdesk.domain.ids import hash_password, is_password_hash, verify_password
from frontdesk.settings import DEMO_AGENT_PASSWORD, DEMO_AGENT_USERNAME, ConfigError, load_settings
from tests.conftest import LiveServer

GOOD = hash_password("pw")
BAD_HASHES = ["scrypt$zz$00", "scrypt$", "scrypt$abcd$1234", f"{GOOD}$extra", GOOD.upper(),
              GOOD.replace("scrypt$", "scrypt$$"), "scrypt$" + "0" * 32 + "$" + "g" * 64, "bcrypt$2b$12$abc"]


def config_with_hash(tmp_path: Path, password_hash: str) -> Path:
    path = tmp_path / "frontdesk.toml"
    path.write_text(f'[[tenants]]\nname = "t.example"\n[[tenants.agents]]\nusername = "sam"\n'
                    f'password_hash = "{password_hash}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("password_hash", BAD_HASHES)
def test_a_password_hash_that_is_not_scrypt_is_refused_at_load_naming_the_field(tmp_path: Path,
                                                                                password_hash: str) -> None:
    with pytest.raises(ConfigError, match=r"^tenants\[0\]\.agents\[0\]\.password_hash: not a password hash"):
        load_settings(config_with_hash(tmp_path, password_hash))
    assert not is_password_hash(password_hash)
    assert verify_password("pw", password_hash) is False  # and never raises


def test_a_hash_written_by_frontdesk_loads_and_verifies(tmp_path: Path) -> None:
    settings = load_settings(config_with_hash(tmp_path, GOOD))
    (sam,) = settings.contact_center.tenants["t.example"].agents
    assert verify_password("pw", sam.password_hash) and not verify_password("other", sam.password_hash)


async def test_the_admin_api_refuses_a_bad_password_hash_and_logins_keep_working(live: LiveServer,
                                                                                http: httpx.AsyncClient) -> None:
    api = f"{live.base_url}/agent/api/v1"
    token = (await http.post(f"{api}/login", json={"username": DEMO_AGENT_USERNAME,
                                                   "password": DEMO_AGENT_PASSWORD})).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    document = (await http.get(f"{api}/admin/config", headers=headers)).json()
    document["tenants"][0]["agents"][0]["password_hash"] = "scrypt$zz$00"
    refused = await http.put(f"{api}/admin/config", headers=headers, json=document)
    assert refused.status_code == 400, refused.text
    assert "tenants[0].agents[0].password_hash" in refused.json()["detail"]
    again = await http.post(f"{api}/login", json={"username": DEMO_AGENT_USERNAME, "password": DEMO_AGENT_PASSWORD})
    assert again.status_code == 200

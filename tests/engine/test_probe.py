from bluegreen.config.inventory import App, Host, Inventory, Ports
from bluegreen.engine import checks, probe
from bluegreen.facts.traffic import Traffic
from bluegreen.transport.http import HttpReply

# reload mode's live include names green r2
FILES_SAY_GREEN = "site_head=# bluegreen mode=reload\nlive=# bluegreen live=green release=r2\n"


class Public:
    """A remote whose public port answers one color and release (nginx's headers)."""

    def __init__(self, color: str, release: str, probe_output: str) -> None:
        self.headers = {checks.COLOR_HEADER: color, checks.RELEASE_HEADER: release}
        self.probe_output = probe_output

    def run(self, command: str, **kw) -> str:
        return self.probe_output

    def http_get(self, port: int, path: str, timeout: float, tls=None, name=None) -> HttpReply:
        return HttpReply(200, self.headers, "")


def test_what_the_public_port_serves_is_live_when_the_files_say_otherwise(tmp_path):
    """A switch renamed the include to green but nginx never reloaded: blue still serves, so
    blue is live and green is the color to stage into."""
    inv = Inventory(path=tmp_path / "hosts.yml", app=App(name="web"), ports=Ports(), hosts={},
                    groups={})  # fmt: skip
    host = Host(name="h", address="203.0.113.1")
    seen = probe.read(Public("blue", "r1", FILES_SAY_GREEN), inv, host)
    assert seen.facts.traffic == Traffic("blue", "r1") and seen.facts.idle_color == "green"
    assert seen.unfinished == (
        "nginx serves blue r1, its files say green r2: an earlier switch did not finish"
    )
    agreeing = probe.read(Public("green", "r2", FILES_SAY_GREEN), inv, host)
    assert agreeing.facts.traffic == Traffic("green", "r2") and agreeing.unfinished == ""

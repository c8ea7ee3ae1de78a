"""The play widgets in a real browser, as a person sees them: a Jupyter server, a small notebook that
builds the boards for tiny untrained players, and Playwright driving Debian's Chromium. Every assertion
reads the rendered DOM, which the Python-level widget tests cannot: stale glyphs left on squares,
column buttons that miss their columns, double clicks that queue two moves, a thinking state never shown.

Frontends: JupyterLab 4 with this venv's ipywidgets 8 (always), and classic Notebook 6.5 with ipywidgets
7.7.1 (Colab's version) when ALPHAZERO_CLASSIC_PYTHON names a Python that has `notebook<7` and
`ipywidgets==7.7.1` (see Google Colab/README.md, "Testing"). Needs /usr/bin/chromium (Debian package
`chromium`) and the pip packages playwright + jupyterlab; .ci/run installs them. A missing browser is a
failure, not a skip (set ALPHAZERO_SKIP_BROWSER=1 to skip these tests on purpose, with a visible reason)."""
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import chess
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ALPHAZERO_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("ALPHAZERO_SCREENSHOTS", ROOT / "out" / "screenshots"))
GLYPHS = dict(zip("PNBRQKpnbrqk", "♙♘♗♖♕♔♟♞♝♜♛♚"))
DELAY = 0.4            # the test players sleep this long before answering, so "thinking" is observable
GUARD = 0.45           # wait this long after a reply before the next click (the widget drops earlier ones)

if os.environ.get("ALPHAZERO_SKIP_BROWSER") == "1":
    pytest.skip("ALPHAZERO_SKIP_BROWSER=1: browser tests skipped on purpose", allow_module_level=True)

FRONTENDS = ["lab"] + (["classic"] if os.environ.get("ALPHAZERO_CLASSIC_PYTHON") else [])


# --- the notebook the browser opens ---
SETUP = f'''# Load the library from this checkout and build tiny untrained players that answer after {DELAY} s.
import sys, time
sys.path.insert(0, {str(ROOT / "tests")!r})
from conftest import load_notebook_module
nb = load_notebook_module()
import torch
import ipywidgets as W
torch.set_num_threads(1)

class Slow:
    """Wraps a player: sleeps before each search so the browser can see the thinking state."""
    def __init__(self, player, column=None):
        self.player, self.game, self.simulations, self.column = player, player.game, player.simulations, column
    def analyse(self, state, simulations=None):
        time.sleep({DELAY})
        res = self.player.analyse(state, simulations)
        if self.column is not None and bool(self.game.legal_mask(state)[0, self.column]):
            res.visits[0] = 0                   # a fixed answer: the person can win in a known way
            res.visits[0, self.column] = 1
            res.action[0] = self.column         # (what the widget plays)
        return res

def tiny(game):
    torch.manual_seed(0)
    return nb.MCTSPlayer(game, nb.build_network(game, 8, 1, "cpu").eval(), simulations=4)

chess_game, c4_game = nb.ChessGame("cpu"), nb.Connect4("cpu")'''

CELLS = [
    SETUP,
    '# Chess, played from the start.\nchess_w = nb.ChessWidget(Slow(tiny(chess_game)))\n'
    'W.VBox([chess_w.widget]).add_class("t-chess")',
    '# Chess, a position set from code (white mates in one).\nmate_w = nb.ChessWidget(Slow(tiny(chess_game)))\n'
    'mate_w.state = chess_game.from_fen(["6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1"])\nmate_w.draw()\n'
    'W.VBox([mate_w.widget]).add_class("t-mate")',
    '# Connect Four.\nc4_w = nb.Connect4Widget(Slow(tiny(c4_game)))\nW.VBox([c4_w.widget]).add_class("t-c4")',
    '# Connect Four against a model that always answers in column 7.\n'
    'c4_fixed = nb.Connect4Widget(Slow(tiny(c4_game), column=6))\nW.VBox([c4_fixed.widget]).add_class("t-c4win")',
]


def notebook_json():
    cells = [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "id": f"c{i}",
              "source": src} for i, src in enumerate(CELLS)]
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}


# --- server and browser ---
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(frontend, port, token, root):
    if frontend == "lab":
        return [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                "--LabApp.expose_app_in_browser=True", "--allow-root"]
    return [os.environ["ALPHAZERO_CLASSIC_PYTHON"], "-m", "notebook", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--NotebookApp.port_retries=0", f"--NotebookApp.token={token}",
            f"--NotebookApp.notebook_dir={root}", "--allow-root"]


@pytest.fixture(scope="module", params=FRONTENDS)
def server(request, tmp_path_factory):
    """A Jupyter server on 127.0.0.1 with a token, serving play.ipynb; killed (with its kernels) at the end."""
    frontend = request.param
    root = tmp_path_factory.mktemp(f"jupyter-{frontend}")
    (root / "play.ipynb").write_text(json.dumps(notebook_json()))
    settings = root / ".lab-settings"
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},   # render every cell
                           "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(root / ".ws"),
               JUPYTER_RUNTIME_DIR=str(root / ".runtime"), PYTHONUNBUFFERED="1")
    port, token = free_port(), secrets.token_hex(16)
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(server_command(frontend, port, token, root), cwd=root, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"Jupyter server did not start:\n{(root / 'server.log').read_text()}")
                time.sleep(0.3)
        path = "lab/tree/play.ipynb" if frontend == "lab" else "notebooks/play.ipynb"
        yield {"frontend": frontend, "url": f"{base}/{path}?token={token}"}
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):     # the server and the kernels it started
            try:
                os.killpg(proc.pid, sig)
                proc.wait(15)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


@pytest.fixture(scope="module")
def page(server):
    """Chromium with the notebook open and every cell run; the five widgets rendered."""
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium), "
                    "or set ALPHAZERO_SKIP_BROWSER=1 to skip the browser tests on purpose")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            pg = browser.new_page(viewport={"width": 1100, "height": 1400})
            pg.set_default_timeout(20_000)
            pg.goto(server["url"])
            if server["frontend"] == "lab":
                pg.wait_for_function("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                                     " const k = w && w.sessionContext && w.sessionContext.session"
                                     " && w.sessionContext.session.kernel; return k && k.status === 'idle'; }",
                                     timeout=60_000)
                pg.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            else:
                pg.wait_for_function("window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
                                     " && Jupyter.notebook.kernel.is_connected()", timeout=60_000)
                # On page load the widget manager asks the kernel for its widgets (ipywidgets 7 falls back to
                # one comm_info request). If that reply lists widgets that Run All has just made, the manager
                # opens a second comm for each, and their later updates are lost (squares stayed blank and
                # untitled in about a third of runs). Running the same restore here and awaiting it is a
                # barrier: the kernel answers in order, so the first restore has finished before any cell runs.
                pg.wait_for_function("Jupyter.WidgetManager && Jupyter.WidgetManager._managers.length > 0")
                pg.evaluate("Jupyter.WidgetManager._managers[0]._loadFromKernel()")
                pg.evaluate("Jupyter.notebook.execute_all_cells()")
            for scope in (".t-chess", ".t-mate", ".t-c4", ".t-c4win"):
                pg.wait_for_selector(f"{scope} button", timeout=120_000)
            pg.frontend = server["frontend"]
            yield pg
        finally:
            browser.close()


# --- reading the DOM ---
BOARD_JS = """scope => {
    const el = document.querySelector(scope), out = {};
    for (const b of el.querySelectorAll('button[title]'))
        if (/^[a-h][1-8]$/.test(b.title)) out[b.title] = b.textContent;
    return out;
}"""

RECORDER_JS = """scope => {
    // Record every distinct rendered state of one widget (squares, discs, texts) as it changes.
    const el = document.querySelector(scope);
    const snap = () => {
        const sq = {};
        for (const b of el.querySelectorAll('button[title]'))
            if (/^[a-h][1-8]$/.test(b.title)) sq[b.title] = b.textContent.trim();
        const discs = [...el.querySelectorAll('.az-disc')].map(d => getComputedStyle(d).backgroundColor);
        return JSON.stringify({squares: sq, discs: discs, text: el.innerText});
    };
    window.__snaps = window.__snaps || {};
    const rec = window.__snaps[scope] = [snap()];
    if (el.__observer) el.__observer.disconnect();
    el.__observer = new MutationObserver(() => { const s = snap(); if (s !== rec[rec.length - 1]) rec.push(s); });
    el.__observer.observe(el, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def board_on_screen(page, scope):
    """{square name: rendered text, blanks stripped} for every chess square of the widget in `scope`."""
    return {k: v.strip() for k, v in page.evaluate(BOARD_JS, scope).items()}


def expected_board(board):
    return {chess.square_name(s): (GLYPHS[p.symbol()] if (p := board.piece_at(s)) else "") for s in chess.SQUARES}


def assert_board_shown(page, scope, board, why, timeout=20.0):
    """Every square's rendered text is the board's piece (polls until then: a stale glyph never goes away).
    The timeout is generous because the fixture waits only for a widget's first button. (Squares that stayed
    untitled even after 20 s were lost widget updates, not slowness: see the restore barrier in `page`.)"""
    want, end = expected_board(board), time.time() + timeout
    while (shown := board_on_screen(page, scope)) != want and time.time() < end:
        time.sleep(0.1)
    assert len(shown) == 64, f"{why}: {len(shown)} squares on screen"
    wrong = {k: (shown[k], want[k]) for k in want if shown[k] != want[k]}
    assert not wrong, f"{why}: squares showing the wrong piece (shown, wanted): {wrong}\nFEN {board.fen()}"


def record(page, scope):
    page.evaluate(RECORDER_JS, scope)


def snaps(page, scope):
    return [json.loads(s) for s in page.evaluate("scope => window.__snaps[scope]", scope)]


def text_of(page, scope):
    return page.inner_text(scope)


def wait_until(page, scope, predicate, timeout=30.0):
    """Poll the recorded states until predicate(list of states) holds; False on timeout (the caller asserts).
    Nothing waits for something that should not happen, so a long timeout costs time only on failure."""
    end = time.time() + timeout
    while time.time() < end:
        if predicate(snaps(page, scope)):
            return True
        time.sleep(0.05)
    return False


def thinking(s):
    return "thinking" in s["text"].lower()


def replied(states):
    """A thinking state was shown, and is over: the person is on move again (or the game ended)."""
    last = states[-1]["text"].lower()
    return any(thinking(s) for s in states) and "thinking" not in last and ("your move" in last or "game over" in last)


def click_square(page, scope, name):
    page.click(f'{scope} button[title="{name}"]')


def model_move(page, scope):
    m = re.search(r"Model played ([a-h][1-8][a-h][1-8][qrbn]?)", text_of(page, scope))
    assert m, text_of(page, scope)
    return m.group(1)


# --- chess ---
def person_move(page, scope, board, move, why):
    """Play `move` (a chess.Move) by clicking; check the person's move shows while the model thinks,
    then the reply; return the reply. `board` is updated with both moves."""
    record(page, scope)
    time.sleep(GUARD)
    click_square(page, scope, chess.square_name(move.from_square))
    click_square(page, scope, chess.square_name(move.to_square))
    board.push(move)
    if board.is_game_over():
        wait_until(page, scope, lambda st: "game over" in st[-1]["text"].lower())
        assert_board_shown(page, scope, board, f"{why}: after the person's last move {move}")
        return None
    done = wait_until(page, scope, replied)
    after_person = expected_board(board)
    reply = chess.Move.from_uci(model_move(page, scope))
    assert reply in board.legal_moves, (board.fen(), reply)
    board.push(reply)
    assert_board_shown(page, scope, board, f"{why}: after {move} and the reply {reply}")   # no stale glyphs
    assert done, f"{why}: no thinking state shown, or it never ended: {[s['text'] for s in snaps(page, scope)]}"
    shown = [s for s in snaps(page, scope) if thinking(s)]
    assert any(s["squares"] == after_person for s in shown), \
        f"{why}: the person's move {move} was not on the board while the model thought"
    return reply


def pick(rng, board):
    moves = sorted(board.legal_moves, key=lambda m: m.uci())
    return rng.choice(moves)


def test_chess_board_shows_exactly_the_position(page):
    """20+ of the person's moves with undo and new game between: after each, every square's text is the board."""
    scope, rng, board, played = ".t-chess", random.Random(0), chess.Board(), 0
    assert_board_shown(page, scope, board, "start")
    plan = [("play", 8), ("undo", 1), ("play", 5), ("undo", 2), ("play", 4), ("new", 0), ("play", 6)]
    for step, n in plan:
        if step == "play":
            for _ in range(n):
                if board.is_game_over():
                    break
                person_move(page, scope, board, pick(rng, board), f"move {played + 1}")
                played += 1
                if played == 6:
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.locator(scope).screenshot(path=str(SCREENSHOTS / f"chess-{page.frontend}.png"))
        elif step == "undo":
            for _ in range(n):
                time.sleep(GUARD)
                page.click(f"{scope} button:text-is('Undo')")
                board.pop(), board.pop()
                page.wait_for_function(f"() => document.querySelector('{scope}').innerText.indexOf('Model played') < 0")
                assert_board_shown(page, scope, board, f"after undo (after {played} moves)")
        else:
            time.sleep(GUARD)
            page.click(f"{scope} button:text-is('New game')")
            board = chess.Board()
            time.sleep(1.0)
            assert_board_shown(page, scope, board, "after New game")
    assert played >= 20


def test_chess_flipped_board_and_model_first(page):
    scope = ".t-chess"
    time.sleep(GUARD)
    page.click(f"{scope} button:text-is('Model')")
    record(page, scope)
    page.click(f"{scope} button:text-is('New game')")
    assert wait_until(page, scope, replied), "no thinking state after Model first + New game"
    board = chess.Board()
    first = next(s for s in snaps(page, scope) if thinking(s))
    assert first["squares"] == expected_board(board), "the old game stayed on screen while the model thought"
    board.push(chess.Move.from_uci(model_move(page, scope)))
    assert_board_shown(page, scope, board, "model first")
    # black at the bottom: the first square row on screen is rank 1, h-file first
    titles = page.evaluate(f"() => [...document.querySelectorAll('{scope} button[title]')].map(b => b.title)"
                           ".filter(t => /^[a-h][1-8]$/.test(t))")
    assert titles[:8] == ["h1", "g1", "f1", "e1", "d1", "c1", "b1", "a1"], titles[:8]
    rng = random.Random(1)
    for k in range(3):
        person_move(page, scope, board, pick(rng, board), f"black move {k + 1}")
    time.sleep(GUARD)
    page.click(f"{scope} button:text-is('Undo')")
    board.pop(), board.pop()
    page.wait_for_function(f"() => document.querySelector('{scope}').innerText.indexOf('Model played') < 0")
    assert_board_shown(page, scope, board, "flipped, after undo")
    time.sleep(GUARD)
    page.click(f"{scope} button:text-is('You')")
    page.click(f"{scope} button:text-is('New game')")
    time.sleep(1.0)
    assert_board_shown(page, scope, chess.Board(), "white again after New game")


def test_typed_move_with_enter(page):
    scope, board = ".t-chess", chess.Board()
    record(page, scope)
    time.sleep(GUARD)
    box = page.locator(f"{scope} input[type=text]")
    box.fill("d2d4")
    box.press("Enter")
    assert wait_until(page, scope, replied), "Enter in the Move box did not play the move"
    board.push_uci("d2d4")
    board.push(chess.Move.from_uci(model_move(page, scope)))
    assert_board_shown(page, scope, board, "after a typed move")
    assert box.input_value() == ""


def test_illegal_click_message_matches_the_screen(page):
    scope = ".t-chess"
    time.sleep(GUARD)
    click_square(page, scope, "e2")
    click_square(page, scope, "e5")
    page.wait_for_function(f"() => document.querySelector('{scope}').innerText.includes('not a legal move')")
    assert "highlighted" not in text_of(page, scope)          # nothing is highlighted any more


def test_position_from_code_and_mate(page):
    scope = ".t-mate"
    board = chess.Board("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1")
    assert_board_shown(page, scope, board, "a position set from code")
    person_move(page, scope, board, chess.Move.from_uci("a1a8"), "mate in one")
    assert board.is_checkmate()
    text = text_of(page, scope)
    assert "Game over" in text and "You win" in text and "Model played" not in text


# --- Connect Four ---
RED, YELLOW = "rgb(214, 39, 40)", "rgb(242, 195, 20)"


def discs(state):
    return sum(c in (RED, YELLOW) for c in state["discs"])


def c4_click(page, scope, column, double=False):
    sel = f"{scope} .az-col >> nth={column}"
    (page.dblclick if double else page.click)(sel)


def test_connect4_buttons_line_up_with_the_columns(page):
    scope = ".t-c4"
    cols = page.locator(f"{scope} .az-col")
    cells = page.locator(f"{scope} .az-disc")
    assert cols.count() == 7 and cells.count() == 42
    for c in range(7):
        b = cols.nth(c).bounding_box()
        centre = b["x"] + b["width"] / 2
        for r in range(6):
            d = cells.nth(7 * r + c).bounding_box()
            assert abs(d["x"] + d["width"] / 2 - centre) <= 2, (c, r, b, d)


def test_connect4_double_click_plays_one_move_and_shows_it_first(page):
    scope = ".t-c4"
    record(page, scope)
    time.sleep(GUARD)
    c4_click(page, scope, 3, double=True)
    assert wait_until(page, scope, replied), "no thinking state shown"
    time.sleep(2 * DELAY + 1.0)                      # a queued second move would have happened by now
    states = snaps(page, scope)
    assert discs(states[-1]) == 2, f"a double click played {discs(states[-1])} discs"
    assert any(thinking(s) and discs(s) == 1 and s["discs"][35 + 3] == RED for s in states), \
        "the person's disc was not shown while the model thought"
    assert max(discs(s) for s in states) == 2


def test_connect4_model_first_clears_the_board_while_thinking(page):
    scope = ".t-c4"
    time.sleep(GUARD)
    page.click(f"{scope} button:text-is('Model')")
    record(page, scope)
    page.click(f"{scope} button:text-is('New game')")
    assert wait_until(page, scope, replied)
    states = snaps(page, scope)
    assert discs(next(s for s in states if thinking(s))) == 0, "the old board stayed while the model thought"
    assert discs(states[-1]) == 1 and "yellow" in states[-1]["text"].lower()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(GUARD)
    c4_click(page, scope, 2)
    wait_until(page, scope, lambda st: discs(st[-1]) == 3 and not thinking(st[-1]))
    page.locator(scope).screenshot(path=str(SCREENSHOTS / f"connect4-{page.frontend}.png"))


def test_connect4_person_wins_message(page):
    scope = ".t-c4win"
    for k in range(4):
        record(page, scope)
        time.sleep(GUARD)
        c4_click(page, scope, 0)
        want = 2 * k + (1 if k == 3 else 2)
        assert wait_until(page, scope, lambda st: discs(st[-1]) == want and not thinking(st[-1])), \
            f"after click {k + 1}: {snaps(page, scope)[-1]}"
    text = text_of(page, scope)
    assert "Game over" in text and "You win" in text and "Model played" not in text
    time.sleep(GUARD)
    c4_click(page, scope, 1)
    page.wait_for_function(f"() => document.querySelector('{scope}').innerText.includes('game is over')")
    assert discs(snaps(page, scope)[-1]) == 7

"""What tree reuse between moves would carry over: the chosen move's share of the root's visits, over
the first plies of B self-play games (PUCT, root noise as in self-play). That is the share of the
tree's nodes in the chosen subtree (the part a reusing search keeps): each simulation adds one node
under the child it passes, except one that ends on a finished position already in the tree.

    python bench/tree_reuse.py --game connect4 --run runs/connect4-cpu --sims 32 [--batch 128] [--plies 20]
    python bench/tree_reuse.py --game chess --sims 64 --batch 32      (no --run: an untrained 3x32 network)

Moves are sampled in proportion to the visits (self-play's opening temperature) and, in a second
pass, the most visited (temperature 0). Prints one markdown row per pass. Section 5.7 of the notebook
cites these figures for why trees are not reused.
"""
import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import load_notebook_module  # noqa: E402
from selfplay_throughput import hardware  # noqa: E402


def measure(nb, game, net, prec, sims, batch, plies, sample, seed=0):
    mcts = nb.BatchedMCTS(game, nb.make_evaluator(game, net, prec), sims)
    torch.manual_seed(seed)
    state, shares = game.initial_state(batch), []
    for _ in range(plies):
        res = mcts.search(state, add_noise=True)
        slot = nb.select_actions(res.child_visits, torch.full((batch,), sample))
        shares.append((res.child_visits.gather(1, slot.unsqueeze(1)).squeeze(1)
                       / res.child_visits.sum(1)).mean().item())
        action = res.child_action.gather(1, slot.unsqueeze(1)).squeeze(1).long()
        nxt = game.step(state, action)       # finished games start again, as in self-play
        state = nb.state_where(game.terminal(nxt)[0], game.initial_state(batch), nxt)
    return shares


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--game", default="connect4")
    ap.add_argument("--run", default="", help="a run folder: its newest checkpoint (and its game); none: an untrained 3x32 net")
    ap.add_argument("--sims", type=int, default=32)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--plies", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(2)
    nb = load_notebook_module()
    if args.run:
        player = nb.load_player(args.run, simulations=args.sims, device="cpu")
        game, net, prec, what = player.game, player.net, player.precision, f"checkpoint of {args.run}"
    else:
        game = nb.make_game(args.game, "cpu")
        torch.manual_seed(0)
        net, prec, what = nb.build_network(game, 32, 3, "cpu"), nb.choose_precision("cpu"), "untrained 3x32 network"
    print(f"Hardware: {hardware(torch.device('cpu'))} · {game.name}, "
          f"{what}, {args.sims} simulations, B = {args.batch}, first {args.plies} plies\n")
    print("| moves | chosen move's share of the root visits (mean over plies) | per ply |\n|---|---:|---|")
    for sample in (True, False):
        shares = measure(nb, game, net, prec, args.sims, args.batch, args.plies, sample)
        print(f"| {'sampled by visits' if sample else 'most visited'} | {100 * statistics.mean(shares):.1f}% | "
              + " ".join(f"{100 * s:.0f}" for s in shares) + " |", flush=True)


if __name__ == "__main__":
    main()

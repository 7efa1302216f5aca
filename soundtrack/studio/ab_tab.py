"""The A/B listening tab: blind pairs of two renderings of one video, votes, the results table.

The work (pairs, votes, results) is listening.py; here it is laid out and wired.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from soundtrack.errors import InputError
from soundtrack.studio.score_tab import ScoreTab
from soundtrack.studio.state import StudioState
from soundtrack.studio.widgets import GENERATE, errors_to, live_session


def ab_tab(state: gr.State, score: ScoreTab, studio: StudioState) -> tuple:
    """Lay out and wire the A/B tab; returns (refresh handler, its outputs) for tab selection."""
    from soundtrack.studio import listening

    gr.Markdown("Blind comparison: two renderings of one video appear as **X** and **Y** in random order. "
                "Play both, vote, and the votes add up in the table below (win rate of A with its 95% "
                "Wilson interval). Your votes are kept under an anonymous id for this page.")
    warning = gr.Markdown(visible=False, elem_id="ab-warning")
    with gr.Row(equal_height=True):
        comparison = gr.Radio(listening.comparisons_available(studio), value=listening.TAKES, label="Compare",
                              scale=2, min_width=220, elem_id="ab-comparison")
        make = gr.Button("Make a pair from the current video", variant="primary", min_width=160,
                         elem_id="ab-make")
        nxt = gr.Button("Next pair to judge", min_width=140, elem_id="ab-next")
    ab_status = gr.Markdown(elem_id="ab-status")
    with gr.Row():
        x = gr.Video(label="X", interactive=False, min_width=260, elem_id="ab-x")
        y = gr.Video(label="Y", interactive=False, min_width=260, elem_id="ab-y")
    comment = gr.Textbox(label="Comment (optional)", lines=1, max_length=2000, elem_id="ab-comment")
    with gr.Row():
        votes = {choice: gr.Button(label, min_width=100, elem_id=f"ab-vote-{choice.lower()}")
                 for choice, label in (("X", "X is better"), ("Y", "Y is better"), ("none", "No preference"))}
    table = gr.Dataframe(headers=listening.RESULT_COLUMNS, label="Results", interactive=False, wrap=True,
                         elem_id="ab-results")
    csv = gr.DownloadButton("Download all votes (csv)", size="md", elem_id="ab-csv")

    def results(session) -> dict:
        store = studio.store()
        path = listening.export_csv(studio, live_session(session).dir / "ab")
        out = {table: listening.result_rows(studio), csv: str(path)}
        out[warning] = gr.update(value=f"⚠️ {store.recovered_from}", visible=bool(store.recovered_from))
        return out

    def show(session, pair, note: str) -> dict:
        session.pair_id = None if pair is None else pair.id
        if pair is None:
            return {x: None, y: None, ab_status: note}
        return {x: pair.x_media, y: pair.y_media, comment: "",
                ab_status: f"Pair {pair.id} ({pair.comparison}, {pair.video}): {note}"}

    @errors_to(ab_status)
    def make_pair(data: dict, progress=gr.Progress()):
        session = live_session(data[state])
        if data[comparison] == listening.TAKES:
            pair = listening.pair_from_takes(studio, session)
        else:
            if not data[score.video]:
                raise InputError("pick an example or upload a video on the Score tab first")
            pair = listening.pair_from_models(studio, Path(data[score.video]), score.settings(data),
                                              session.dir / "ab-render",
                                              on_progress=lambda p, d: progress(p, desc=d),
                                              comparison=data[comparison])
        return show(session, pair, "which soundtrack fits the video better?")

    @errors_to(ab_status)
    def next_pair(session) -> dict:
        pair = listening.next_pair(studio, live_session(session).id)
        return show(session, pair, "which soundtrack fits the video better?" if pair else
                    "No pair left to judge: make one from the current video.")

    def voter(choice: str):
        @errors_to(ab_status)
        def vote(session, text: str) -> dict:
            if live_session(session).pair_id is None:
                raise InputError("make a pair or load the next one before voting")
            store = studio.store()
            pair = store.pair(session.pair_id)
            store.vote(pair.id, choice, comment=text or "", voter=session.id)
            side = pair.side_of(choice)
            label = pair.a_label if side == "A" else pair.b_label
            said = "no preference" if side == "none" else f"{choice} = {label}"
            out = show(session, None, f"Vote saved on pair {pair.id}: {said} (X was the {pair.x_label}, "
                                      f"Y the {pair.y_label}).")
            return {**out, **results(session)}
        return vote

    ab_outputs = [x, y, comment, ab_status]
    make.click(make_pair, {state, comparison, score.video, *score.controls.values()}, ab_outputs,
               concurrency_id=GENERATE, show_progress_on=[ab_status], api_visibility="private")
    nxt.click(next_pair, state, ab_outputs, api_visibility="private")
    for choice, button in votes.items():
        button.click(voter(choice), [state, comment], [*ab_outputs, table, csv, warning],
                     api_visibility="private")
    return results, [table, csv, warning]


__all__ = ["ab_tab"]

"""Start the soundtrack studio: `python app.py [--host 127.0.0.1] [--port 7860] [--share]`.

On Hugging Face Spaces the host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT.
"""
from __future__ import annotations

import argparse
import os
import threading

from soundtrack.studio import StudioState, build_ui, launch_options, limit_malloc_arenas


def main() -> None:
    parser = argparse.ArgumentParser(description="soundtrack studio (Gradio)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public share link")
    args = parser.parse_args()
    limit_malloc_arenas()
    studio = StudioState()  # the model, takes and votes folders: shared by every session of this process
    # the first take's costs, now
    threading.Thread(target=studio.warm_up, name="warm-up", daemon=True).start()
    demo = build_ui(studio)
    demo.queue(default_concurrency_limit=1, max_size=16)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="200mb",
                **launch_options(studio))


if __name__ == "__main__":
    main()

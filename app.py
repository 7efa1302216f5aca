"""Start the soundtrack studio: `python app.py [--host 127.0.0.1] [--port 7860] [--share]`."""
from __future__ import annotations

import argparse

from soundtrack.studio import build_ui


def main() -> None:
    parser = argparse.ArgumentParser(description="soundtrack studio (Gradio)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public share link")
    args = parser.parse_args()
    demo = build_ui()
    demo.queue(default_concurrency_limit=1, max_size=16)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="200mb")


if __name__ == "__main__":
    main()

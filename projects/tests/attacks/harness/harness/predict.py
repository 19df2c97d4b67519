"""Run the student's submission; it must write outputs/answer.txt."""

import runpy

runpy.run_path("submission/attack.py", run_name="__main__")

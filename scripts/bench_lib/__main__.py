import sys

from bench_lib import cli, instructions

# `scripts/bench instructions ...` counts the policy's cost in instructions
# (bench_lib/instructions.py); anything else is the benchmark table.
if sys.argv[1:2] == ["instructions"]:
    raise SystemExit(instructions.main(sys.argv[2:]))
raise SystemExit(cli.main())

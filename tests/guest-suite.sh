# Runs inside the VM (via scripts/vm-run.sh): the whole kselftest suite.
exec bash /imp2/tests/run_all.sh "$@"

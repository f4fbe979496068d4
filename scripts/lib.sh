# shellcheck shell=bash
# Common helpers for imp2 scripts: logging, timing, cache paths.

IMP2_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/versions.env
. "$IMP2_ROOT/scripts/versions.env"

IMP2_CACHE=${IMP2_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imp2}
BINDGEN_PREFIX=$IMP2_CACHE/bindgen-$BINDGEN_VERSION
BINDGEN=$BINDGEN_PREFIX/bin/bindgen
export LIBCLANG_PATH=/usr/lib/llvm-$LLVM_VERSION/lib

mkdir -p "$IMP2_CACHE/logs"
_imp2_t0=${_imp2_t0:-$(date +%s)}
export _imp2_t0

elapsed() { local s=$(( $(date +%s) - _imp2_t0 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
log()  { printf '[imp2 %s] %s\n' "$(elapsed)" "$*" >&2; }
die()  { printf '[imp2 %s] ERROR: %s\n' "$(elapsed)" "$*" >&2; exit 1; }

# Run a long command, printing a heartbeat with elapsed time every 30 s so
# that CI logs and humans can tell it is alive.  Output goes to a log file;
# its tail is shown on failure.
run_long() {
	local what=$1 logfile=$2; shift 2
	log "$what (log: $logfile)"
	local start; start=$(date +%s)
	"$@" >"$logfile" 2>&1 &
	local pid=$!
	local last=$start now
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		now=$(date +%s)
		if (( now - last >= 30 )); then
			last=$now
			log "  ... $what: $((now - start))s, last: $(tail -n1 "$logfile" | cut -c1-100)"
		fi
	done
	local rc=0
	wait "$pid" || rc=$?
	if (( rc != 0 )); then
		tail -n 40 "$logfile" >&2
		return "$rc"
	fi
	log "$what: done in $(( $(date +%s) - start ))s"
}

# copy_libs ROOT FILE: copy FILE's shared libraries (per ldd) to the same
# paths under ROOT, for the VM's initramfs.
copy_libs() {
	local root=$1 file=$2 lib
	for lib in $(ldd "$file" 2>/dev/null | grep -o '/[^ ]*'); do
		[[ -e $root$lib ]] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

kernel_make_vars() {
	printf '%s\n' "LLVM=-$LLVM_VERSION" "RUSTC=/usr/bin/rustc" "BINDGEN=$BINDGEN"
}

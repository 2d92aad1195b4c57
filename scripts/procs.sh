# Sourced: start and stop the project's own background processes with pid files.
PIDS="$RUN_DIR/pids"
LOGS="$RUN_DIR/logs"
mkdir -p "$PIDS" "$LOGS"

proc_alive() { [[ -f "$PIDS/$1.pid" ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

# start_proc NAME COMMAND...: no-op when NAME is already running.
start_proc() {
  local name="$1"; shift
  if proc_alive "$name"; then say "$name already running (pid $(cat "$PIDS/$name.pid"))"; return 0; fi
  # Descriptors 3-9 closed: a lock the caller holds (flock) must not live on in the process.
  setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$PIDS/$name.pid"
  say "$name started (pid $!, log .run/logs/$name.log)"
}

# stop_proc NAME: SIGTERM (graceful shutdown), then SIGKILL after 15 s. The processes give their own
# stop 10 s (src/process.ts) and then exit 1 by themselves, so the SIGKILL is for a process that hangs.
stop_proc() {
  local name="$1" pid
  [[ -f "$PIDS/$name.pid" ]] || return 0
  pid="$(cat "$PIDS/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then say "$name did not stop in 15 s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
    say "$name stopped"
  fi
  rm -f "$PIDS/$name.pid"
}

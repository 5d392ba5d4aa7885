// Ends a local stack's servers once the stack's own process is gone without stopping them
// (kill -9, a crash the exit hooks could not see): `node watchdog.mjs <stack pid> <server pid>…`.
// Each server leads its own process group (they are spawned detached), so the group is ended.
// Plain JavaScript, so that it starts in milliseconds and needs nothing installed.
const [stack, ...servers] = process.argv.slice(2).map(Number);

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
};

const signal = (pid, name) => {
  try {
    process.kill(-pid, name);
  } catch {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
};

const timer = setInterval(() => {
  const running = servers.filter(alive);
  if (running.length === 0) process.exit(0);
  if (alive(stack)) return;
  clearInterval(timer);
  for (const pid of running) signal(pid, 'SIGTERM');
  setTimeout(() => {
    for (const pid of running.filter(alive)) signal(pid, 'SIGKILL');
    process.exit(0);
  }, 3_000);
}, 250);

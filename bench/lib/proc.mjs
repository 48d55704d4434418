// What /proc says about a process and the machine: CPU time, peak memory, load.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

const CLOCK_TICKS = clockTicksPerSecond()

function clockTicksPerSecond () {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100
  } catch {
    return 100 // the Linux default
  }
}

/** User + system CPU time a live process has used so far, in ms (/proc/<pid>/stat fields 14 and 15). */
export function cpuMs (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name, field 2, may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000
}

/** Peak resident set size (VmHWM) of a live process, in MiB. */
export function peakRssMiB (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)[1]) / 1024
}

/**
 * The 1-minute load average. It counts the bench's own processes too (server,
 * wrk, PostgreSQL, Redis: about 2.5 while loading), so read it against that.
 */
export function loadAverage () {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
}

// Tasks: the pids and names the engine knows (setTask), the current task and
// CPU, and tasks with their own kernel stack (createTask/exitTask); the Engine's
// methods of the same names delegate here.
import * as abi from "../abi/abi.js";
import type { CoreExports } from "./exports.js";
import type { TaskInfo } from "./report/common.js";
import { numArg, sanitizeComm } from "./args.js";

// PID_MAX_LIMIT (4M on 64-bit)
export const MAX_PID = 4194304;
// tasks the engine keeps a name for (setTask): the stack-holding ones (MAX_TASKS) and more
const MAX_TASK_NAMES = 4 * abi.MAX_TASKS;

/** What the tasks use of the engine (the Engine provides it). */
export interface TasksEngine {
  readonly exports: CoreExports;
  /** The CPU the engine's calls run on now (engine.cpu(n)). */
  readonly thisCpu: number;
  readonly options: { readonly nrCpus: number };
  kernelCall<T>(capture: boolean, fn: () => T): T;
}

export class Tasks {
  private readonly known = new Map<number, TaskInfo>();
  // per CPU the calls run on: the current task, and the CPU its reports name (CPU 0 may stand for another CPU, as before threads)
  private readonly currents: Array<{ pid: number; cpu: number }> = [{ pid: 1, cpu: 0 }];
  private nextTaskPid = 2;

  constructor(private readonly e: TasksEngine) {
    this.known.set(0, { pid: 0, comm: "swapper/0" });
    this.known.set(1, { pid: 1, comm: "swapper/0" });
  }

  /** The task with `pid`; pid 0 is CPU `cpu`'s idle task, swapper/cpu. */
  task(pid: number, cpu = 0): TaskInfo {
    if (pid === 0) return { pid, comm: `swapper/${cpu}` };
    return this.known.get(pid) ?? { pid, comm: `task-${pid}` };
  }

  private get cur(): { pid: number; cpu: number } {
    const n = this.e.thisCpu;
    return (this.currents[n] ??= { pid: 0, cpu: n });
  }

  setTask(t: { pid: number; comm?: string; cpu?: number }): void {
    if (typeof t !== "object" || t === null) throw new TypeError("setTask: expected { pid, comm?, cpu? }");
    const pid = numArg("setTask", "pid", t.pid, 0, MAX_PID);
    const here = this.e.thisCpu;
    const cpu = numArg("setTask", "cpu", t.cpu ?? this.cur.cpu, 0, this.e.options.nrCpus - 1);
    if (here !== 0 && cpu !== here) throw new RangeError(`setTask on CPU ${here}: the task runs on CPU ${here}, not ${cpu}`);
    const comm = t.comm === undefined ? undefined : sanitizeComm("setTask", t.comm);
    const prev = this.known.get(pid);
    if (!prev && this.known.size >= MAX_TASK_NAMES) {
      throw new RangeError(`setTask(pid ${pid}): the engine knows ${this.known.size} tasks, its limit (exitTask() some first)`);
    }
    this.known.set(pid, { pid, comm: comm ?? prev?.comm ?? `task-${pid}` });
    this.cur.pid = pid;
    this.cur.cpu = cpu;
    this.e.exports.set_current(pid, cpu);
  }

  get current(): TaskInfo & { cpu: number } {
    const c = this.cur;
    return { ...this.task(c.pid, c.cpu), cpu: c.cpu };
  }

  createTask(comm: string): { pid: number; comm: string; stack: bigint; stackSize: number } {
    const x = this.e.exports;
    const name = sanitizeComm("createTask", comm);
    if (x.task_count() >= abi.MAX_TASKS) {
      throw new RangeError(`createTask(${name}): the engine has ${abi.MAX_TASKS} tasks, its limit (exitTask() one first)`);
    }
    if (this.known.size >= MAX_TASK_NAMES) throw new RangeError(`createTask(${name}): the engine knows ${this.known.size} tasks, its limit (exitTask() some first)`);
    // the next pid nobody uses (alloc_pid wraps around at pid_max)
    for (let tries = 0; this.known.has(this.nextTaskPid) || x.task_stack_base(this.nextTaskPid) !== 0n; tries++) {
      this.nextTaskPid = this.nextTaskPid >= MAX_PID ? 2 : this.nextTaskPid + 1;
      if (tries > MAX_TASK_NAMES + abi.MAX_TASKS) throw new RangeError(`createTask(${name}): no free pid`);
    }
    const pid = this.nextTaskPid;
    this.nextTaskPid = pid >= MAX_PID ? 2 : pid + 1;
    const base = BigInt.asUintN(64, this.e.kernelCall(true, () => x.task_stack_alloc(pid)));
    if (base === 0n) throw new RangeError(`createTask(${name}): out of memory for the task's stack`);
    this.known.set(pid, { pid, comm: name });
    return { pid, comm: name, stack: base, stackSize: x.task_stack_size(pid) };
  }

  exitTask(pid: number): void {
    const x = this.e.exports;
    const p = numArg("exitTask", "pid", pid, 0, MAX_PID);
    if (p <= 1) throw new RangeError(`exitTask: pid ${p} is the boot task (swapper), it cannot exit`);
    const hasStack = x.task_stack_base(p) !== 0n;
    if (!hasStack && !this.known.has(p)) throw new RangeError(`exitTask: no task has pid ${p}`);
    if (hasStack) this.e.kernelCall(false, () => x.task_stack_free(p));
    this.known.delete(p);
    // the CPU goes back to the boot task, as schedule() would pick another
    if (this.cur.pid === p) this.setTask({ pid: this.e.thisCpu === 0 ? 1 : 0, cpu: this.cur.cpu });
  }
}

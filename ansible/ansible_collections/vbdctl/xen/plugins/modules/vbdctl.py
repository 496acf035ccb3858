#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vbdctl contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: vbdctl
short_description: Inspect, check and safely reload the Xen block backend (xen-blkback) with vbdctl
version_added: "0.1.0"
description:
  - Wraps the C(vbdctl) command line tool, which unbinds, rebinds and upgrades xen-blkback
    under running guests with a preflight, a journal and automatic rollback.
  - Every state runs C(vbdctl --json ...) and returns the tool's JSON object (schema_version 5)
    in RV(vbdctl).
  - C(state=facts) runs C(vbdctl list --json) and C(vbdctl status --json) and returns the inventory
    as the fact C(vbdctl_inventory), the loaded xen_blkback as C(vbdctl_module) and a health summary
    as C(vbdctl_health).
  - C(state=checked) runs C(vbdctl check --json) and fails the host when any ring is inconsistent
    (C(req_prod - rsp_prod > size)) or stuck (requests pending, no responses).
  - C(state=upgraded) runs C(vbdctl upgrade-backend --yes --json). If the tool rolls back, the task
    fails and RV(rolled_back) is true. The task reports C(changed) as vbdctl does: when the target is
    the module already loaded and every parameter keeps its value, vbdctl does nothing (no reload,
    no guest stalls) and the task is not C(changed). In C(--diff) mode the task shows each
    parameter value that changes (vbdctl's C(param_changes)) and the srcversion before and after.
  - C(state=recovered) runs C(vbdctl recover --yes --json) and is C(changed) only when there was a
    journal of an interrupted run to finish.
  - On any non-zero exit the task fails with the tool's message (its stderr) and exit code.
author:
  - vbdctl contributors
options:
  state:
    description:
      - C(facts) lists every vbd this domain serves (read only).
      - C(checked) checks ring consistency and progress (read only).
      - C(upgraded) reloads xen-blkback under every vbd.
      - C(recovered) finishes an interrupted run from its journal.
    type: str
    choices: [facts, checked, upgraded, recovered]
    default: facts
  host:
    description:
      - Host for vbdctl to act on, passed as C(--host), for example C(local) or C(sim:/path/world.state).
      - When omitted, vbdctl uses the environment variable C(VBDCTL_HOST) on the managed node, else C(local).
    type: str
  binary:
    description:
      - Path to the vbdctl executable on the managed node (looked up in C(PATH) when not absolute).
    type: str
    default: vbdctl
  module_file:
    description:
      - With C(state=upgraded), the xen-blkback.ko to load (C(--module-file)).
      - Default is what modprobe resolves.
    type: path
  params:
    description:
      - With C(state=upgraded), parameters for the new module, each passed as C(--param NAME=VALUE).
    type: dict
    default: {}
  canary:
    description:
      - With C(state=upgraded), bind one vbd first and prove it before binding the rest (C(--canary)).
    type: bool
    default: false
  only:
    description:
      - With C(state=upgraded), gate and verify only these vbds, each C(DOMID) or C(DOMID:VBD)
        (repeated C(--only)). Every vbd is still rebound.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - With C(state=upgraded) or C(state=recovered), seconds to wait for each vbd to reconnect (C(--timeout)).
    type: float
  samples:
    description:
      - With C(state=checked), samples per queue (C(--samples)); at least 2 to detect stuck rings.
    type: int
  interval:
    description:
      - With C(state=checked), milliseconds between samples (C(--interval)).
    type: int
  domid:
    description:
      - With C(state=facts) or C(state=checked), only this guest.
    type: str
notes:
  - Check mode is supported. C(state=upgraded) runs C(upgrade-backend --dry-run) and reports whether
    the target module differs from the loaded one; the read-only states run normally.
  - Exit codes of vbdctl are 0 (ok), 1 (check failed, upgrade refused or rolled back), 2 (usage),
    130 (interrupted after reaching a safe state).
requirements:
  - vbdctl on the managed node
'''

EXAMPLES = r'''
- name: Gather the vbd inventory as facts
  vbdctl.xen.vbdctl:
    state: facts

- name: Fail this host if any ring is inconsistent or stuck
  vbdctl.xen.vbdctl:
    state: checked

- name: Reload xen-blkback from a new build with new parameters, proving one vbd first
  vbdctl.xen.vbdctl:
    state: upgraded
    module_file: /lib/modules/{{ ansible_kernel }}/updates/xen-blkback.ko
    params:
      max_ring_page_order: 4
      max_queues: 4
    canary: true
  register: upgrade

- name: Show the window during which guests had no backend
  ansible.builtin.debug:
    msg: "{{ upgrade.window_ms }} ms, {{ upgrade.srcversion_before }} -> {{ upgrade.srcversion_after }}"

- name: Finish a run that was interrupted
  vbdctl.xen.vbdctl:
    state: recovered

- name: Act on a simulated world instead of this host
  vbdctl.xen.vbdctl:
    state: upgraded
    host: sim:/tmp/world.state
    binary: /opt/vbdctl/bin/vbdctl
'''

RETURN = r'''
vbdctl:
  description: The JSON object vbdctl printed (schema_version 5); empty when it printed none.
  returned: always
  type: dict
  sample: {"schema_version": 5, "ok": true, "exit": 0, "error": null, "window_ms": 243}
cmd:
  description: The command that was run.
  returned: always
  type: list
  elements: str
  sample: ["vbdctl", "--json", "--host", "sim:/tmp/w.json", "upgrade-backend", "--yes"]
rc:
  description: Exit code of vbdctl.
  returned: always, except state=recovered in check mode (see RV(probe_rc))
  type: int
  sample: 0
probe_rc:
  description:
    - With state=recovered in check mode, the exit code of the read-only probe
      C(upgrade-backend --dry-run), whose preflight says whether a journal is pending
      (1 when it refuses because of one).
  returned: state=recovered in check mode
  type: int
  sample: 1
stderr:
  description: What vbdctl said on stderr.
  returned: always
  type: str
  sample: "vbdctl: error: upgrade failed: reconnect failed: ...; rolled back"
ok:
  description: The tool's own verdict (its C(ok) field).
  returned: when the tool printed JSON with C(ok)
  type: bool
vbds:
  description: Per-vbd results (list, check and upgrade output differ; see vbdctl's JSON).
  returned: when the tool printed them
  type: list
  elements: dict
window_ms:
  description: Milliseconds between the first unbind and the last vbd being Connected again.
  returned: state=upgraded, not in check mode
  type: int
  sample: 243
rolled_back:
  description: Whether the upgrade failed and the old module was restored.
  returned: state=upgraded
  type: bool
failure:
  description: Why the upgrade failed (the message of vbdctl's C(error)), or null.
  returned: state=upgraded
  type: str
error:
  description: vbdctl's error object (code, message, object, hint), or null on success.
  returned: when the tool printed JSON
  type: dict
restored:
  description: What the rollback restored.
  returned: state=upgraded
  type: list
  elements: str
module_before:
  description: The loaded module before (name, srcversion, version, build_id, params, refcnt).
  returned: state=upgraded
  type: dict
module_after:
  description: The loaded module after; in check mode, the planned target.
  returned: state=upgraded
  type: dict
srcversion_before:
  description: srcversion of the module before (null for an in-tree build without one).
  returned: state=upgraded
  type: str
srcversion_after:
  description: srcversion of the module after; in check mode, of the planned target.
  returned: state=upgraded
  type: str
dry_run:
  description: Whether the upgrade was only planned (check mode).
  returned: state=upgraded
  type: bool
had_journal:
  description: Whether recover found an interrupted run to finish.
  returned: state=recovered
  type: bool
problems:
  description: Human-readable list of what failed the check.
  returned: state=checked
  type: list
  elements: str
ansible_facts:
  description: Facts set by C(state=facts).
  returned: state=facts
  type: dict
  contains:
    vbdctl_inventory:
      description: The output of C(vbdctl list --json).
      type: dict
    vbdctl_module:
      description: >-
        The loaded xen_blkback (null members when not loaded): C(loaded), C(srcversion), C(version),
        C(refcnt), C(taint), C(params), C(params_changed) (each parameter not at the kernel's
        default: C(name), C(value), C(default)) and C(file) (what modprobe loads: C(path),
        C(srcversion), C(signer), C(is_loaded)), from C(vbdctl status --json).
      type: dict
    vbdctl_health:
      description: >-
        C(healthy) (no problem to act on), C(problems) (one sentence each), C(vbds) (C(total),
        C(bound), C(unbound), C(by_backend_state)), C(failing_rings) (vbd-D-N of the vbds whose
        rings are stuck or inconsistent), C(rebind_supported), C(journal) (null, or what it means),
        C(run_in_progress) and C(last_run) (as C(vbdctl history) lists it), from C(vbdctl status --json).
      type: dict
'''

import json

from ansible.module_utils.basic import AnsibleModule


def param_diff(before, out):
    """Ansible's --diff view of an upgrade: the srcversion and every parameter that changes."""
    def lines(side, module_side):
        rows = ["srcversion: %s" % (module_side or {}).get("srcversion")]
        for c in out.get("param_changes") or []:
            value = c.get(side)
            rows.append("%s: %s" % (c.get("name"), "(module default)" if value is None else value))
        return "\n".join(rows) + "\n"
    after = out.get("module_after") or out.get("target") or {}
    return {"before": lines("before", before), "after": lines("after", after),
            "before_header": "xen_blkback (loaded)", "after_header": "xen_blkback (after upgrade-backend)"}


def srcversion(m):
    return (m or {}).get("srcversion")


def module_fact(status):
    """The loaded xen_blkback, from vbdctl status."""
    m = status.get("module") or {}
    return {"loaded": bool(m.get("loaded")), "srcversion": m.get("srcversion"), "version": m.get("version"),
            "refcnt": m.get("refcnt"), "taint": status.get("module_taint"), "params": m.get("params") or {},
            "params_changed": status.get("params_changed") or [], "file": status.get("module_file")}


def health_fact(status):
    """What an operator must know before touching the host, from vbdctl status."""
    journal = status.get("journal")
    return {"healthy": bool(status.get("healthy")), "problems": status.get("problems") or [],
            "vbds": status.get("vbds") or {},
            "failing_rings": ["vbd-%s-%s" % (v.get("domid"), v.get("devid")) for v in status.get("failing_rings") or []],
            "rebind_supported": bool((status.get("kernel") or {}).get("rebind_supported")),
            "journal": journal.get("meaning") if journal else None,
            "run_in_progress": bool((status.get("lock") or {}).get("held")),
            "last_run": status.get("last_run")}


def check_problems(out):
    problems = []
    for v in out.get("vbds") or []:
        name = "vbd-%s-%s (%s)" % (v.get("domid"), v.get("devid"), v.get("vdev"))
        if v.get("error"):
            problems.append("%s: %s" % (name, v["error"]))
        for q in v.get("queues") or []:
            if q.get("consistent") is False:
                problems.append("%s queue %s: inconsistent ring: %s" % (name, q.get("index"), q.get("reason")))
            elif q.get("progress") == "stuck":
                problems.append("%s queue %s: %s" % (name, q.get("index"), q.get("reason") or "stuck"))
        if v.get("ok") is False and not any(p.startswith(name) for p in problems):
            problems.append("%s: check failed (%s)" % (name, v.get("problems")))
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="facts", choices=["facts", "checked", "upgraded", "recovered"]),
            host=dict(type="str"),
            binary=dict(type="str", default="vbdctl"),
            module_file=dict(type="path"),
            params=dict(type="dict", default={}),
            canary=dict(type="bool", default=False),
            only=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float"),
            samples=dict(type="int"),
            interval=dict(type="int"),
            domid=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    state = p["state"]

    binary = p["binary"]
    if "/" not in binary:
        binary = module.get_bin_path(binary, required=True)

    cmd = [binary, "--json"]
    if p["host"]:
        cmd += ["--host", p["host"]]

    if state == "facts":
        cmd += ["list"]
        if p["domid"]:
            cmd += [p["domid"]]
    elif state == "checked":
        cmd += ["check"]
        if p["samples"] is not None:
            cmd += ["--samples", str(p["samples"])]
        if p["interval"] is not None:
            cmd += ["--interval", str(p["interval"])]
        if p["domid"]:
            cmd += [p["domid"]]
    elif state == "upgraded":
        cmd += ["upgrade-backend"]
        cmd += ["--dry-run"] if module.check_mode else ["--yes"]
        if p["module_file"]:
            cmd += ["--module-file", p["module_file"]]
        for name in sorted(p["params"]):
            value = p["params"][name]
            if isinstance(value, bool):
                value = "Y" if value else "N"
            cmd += ["--param", "%s=%s" % (name, value)]
        for spec in p["only"]:
            cmd += ["--only", spec]
        if p["canary"]:
            cmd += ["--canary"]
        if p["timeout"] is not None:
            cmd += ["--timeout", str(p["timeout"])]
    elif state == "recovered":
        if module.check_mode:
            # Nothing read-only to ask recover; report whether it would act from the journal.
            cmd += ["upgrade-backend", "--dry-run"]
        else:
            cmd += ["recover", "--yes"]
            if p["timeout"] is not None:
                cmd += ["--timeout", str(p["timeout"])]

    def run_json(command):
        rc, stdout, stderr = module.run_command(command, environ_update={"LC_ALL": "C"})
        try:
            out = json.loads(stdout) if stdout.strip() else {}
        except ValueError:
            out = {}
            if rc == 0:
                module.fail_json(msg="vbdctl printed no JSON object", cmd=command, rc=rc, stdout=stdout, stderr=stderr)
        return rc, out, stderr

    rc, out, stderr = run_json(cmd)

    result = dict(changed=False, cmd=cmd, rc=rc, stderr=stderr, vbdctl=out)
    for key in ("ok", "vbds", "error"):
        if key in out:
            result[key] = out[key]

    def fail(default_msg, own_msg=False, **extra):
        # vbdctl's error line says what failed; own_msg when ours says more (check's problems).
        msg = default_msg if own_msg else (stderr.strip() or default_msg)
        result.update(extra)
        module.fail_json(msg=msg, **result)

    if state == "facts":
        if rc != 0:
            fail("vbdctl list exited %d" % rc)
        status_cmd = cmd[:cmd.index("list")] + ["status"]
        status_rc, status, status_err = run_json(status_cmd)
        if status_rc != 0:
            module.fail_json(msg=status_err.strip() or "vbdctl status exited %d" % status_rc, cmd=status_cmd,
                             rc=status_rc, vbdctl=status)
        result["ansible_facts"] = dict(vbdctl_inventory=out, vbdctl_module=module_fact(status),
                                       vbdctl_health=health_fact(status))
        module.exit_json(**result)

    if state == "checked":
        problems = check_problems(out)
        result["problems"] = problems
        if rc != 0 or out.get("ok") is False:
            fail("vbdctl check failed (exit %d): %s" % (rc, "; ".join(problems) or "see vbdctl output"),
                 own_msg=bool(problems))
        module.exit_json(**result)

    if state == "recovered":
        if module.check_mode:
            # preflight 'journal' says whether an unfinished run exists.
            journal = [c for c in out.get("preflight") or [] if c.get("check") == "journal"]
            pending = bool(journal) and not journal[0].get("ok", True)
            # The probe's refusal (exit 1) is the answer, not a failure of this task.
            result["probe_rc"] = result.pop("rc")
            result["had_journal"] = pending
            result["changed"] = pending
            module.exit_json(**result)
        result["had_journal"] = bool(out.get("had_journal"))
        if rc != 0 or out.get("ok") is False:
            fail("vbdctl recover failed (exit %d)" % rc)
        result["changed"] = result["had_journal"]
        module.exit_json(**result)

    # state == upgraded
    before = out.get("module_before")
    result["module_before"] = before
    result["srcversion_before"] = srcversion(before)
    result["dry_run"] = bool(module.check_mode)
    if module._diff:
        result["diff"] = param_diff(before, out)
    if module.check_mode:
        target = out.get("target") or {}
        result["module_after"] = target
        result["srcversion_after"] = target.get("srcversion")
        result["refused"] = out.get("refused")
        result["preflight"] = out.get("preflight")
        result["plan"] = out.get("plan")
        if rc != 0 or out.get("refused"):
            failed_checks = ["%s: %s" % (c.get("check"), c.get("detail"))
                             for c in out.get("preflight") or [] if not c.get("ok")]
            fail("upgrade refused: %s" % "; ".join(failed_checks), failed_checks=failed_checks)
        # vbdctl's dry run says whether a run would do anything at all.
        result["changed"] = not out.get("noop")
        module.exit_json(**result)

    after = out.get("module_after")
    result["module_after"] = after
    result["srcversion_after"] = srcversion(after)
    for key in ("window_ms", "rolled_back", "restored", "interrupted", "steps", "target", "preflight"):
        if key in out:
            result[key] = out[key]
    failure = (out.get("error") or {}).get("message")
    result["failure"] = failure
    result["rolled_back"] = bool(out.get("rolled_back"))
    # vbdctl reports whether it reloaded the module; a no-op run changed nothing.
    result["changed"] = bool(out.get("changed"))
    if rc != 0 or out.get("ok") is False:
        fail("vbdctl upgrade-backend failed (exit %d)%s" % (rc, ": " + failure if failure else ""))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

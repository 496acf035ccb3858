#!/bin/bash
# smoke: boot the guest, check the ring geometry, let the I/O run 30 s, stop.
set -u
. /lab/lib.sh
lab_start_guest || exit 1
lab_wait_guest_io 300 || { lab_stop_guest; lab_results smoke; exit 1; }
lab_check_geometry
sleep 30
lab_stop_guest
lab_results smoke

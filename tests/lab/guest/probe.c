/*
 * probe: O_DIRECT write-read-compare probe for one guest block device.
 *
 * Every INTERVAL ms it writes one 4 KiB block (pattern: sequence number,
 * timestamps, device name) into a region fio does not touch, reads it back
 * with O_DIRECT and compares.  It measures how long each write+read took.
 * Output lines (to stdout, the guest console):
 *   PROBE <dev> STALL start=<wall s> end=<wall s> ms=<duration>   op took > threshold
 *   PROBE <dev> MISMATCH seq=<n> at=<wall s>                      read-back differs
 *   PROBE <dev> IOERR op=<write|read> errno=<e> at=<wall s>
 *   PROBE <dev> HB seq=<n> wall=<s> mono=<s> maxms=<max op ms since last HB>
 * SIGTERM/SIGINT: prints "PROBE <dev> SUMMARY probes=.. mismatches=.. ioerrs=.. stalls=.. maxms=.."
 * and exits.
 * With LATFILE, every probe (not only stalls) is also recorded there, one line each:
 *   <start wall s> <ms>
 * (buffered in memory, written out at exit: the file lives on the guest's tmpfs).
 * MODE rw (default): write + read-back + compare, O_DIRECT|O_SYNC (the data check);
 * MODE r: one O_DIRECT 4 KiB read of the block, no write (a cheap latency probe for
 * disks without fio: it waits in the ring like any request while the vbd is unbound).
 *
 * usage: probe DEV OFFSET_BYTES [INTERVAL_MS=500] [STALL_MS=150] [HB_EVERY=20] [LATFILE|-] [rw|r]
 *        probe now      (prints the wall clock, seconds with ms)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static double now(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "now") == 0) {  /* busybox date has no %N */
    printf("%.3f\n", now(CLOCK_REALTIME));
    return 0;
  }
  if (argc < 3) { fprintf(stderr, "usage: probe DEV OFFSET [INTERVAL_MS] [STALL_MS] [HB_EVERY] [LATFILE|-] [rw|r]\n"); return 2; }
  const char *dev = argv[1];
  off_t off = strtoll(argv[2], NULL, 0);
  int interval = argc > 3 ? atoi(argv[3]) : 500;
  int stall_ms = argc > 4 ? atoi(argv[4]) : 150;
  int hb_every = argc > 5 ? atoi(argv[5]) : 20;
  const char *latpath = argc > 6 && strcmp(argv[6], "-") != 0 ? argv[6] : NULL;
  int readonly = argc > 7 && strcmp(argv[7], "r") == 0;
  const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
  struct sigaction sa = {0};
  sa.sa_handler = on_sig;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);

  FILE *lat = NULL;
  if (latpath) {
    lat = fopen(latpath, "w");
    /* a big buffer: the records reach the file (tmpfs) only now and then */
    if (lat) setvbuf(lat, NULL, _IOFBF, 1 << 20);
    else printf("PROBE %s IOERR op=latfile errno=%d at=%.3f\n", name, errno, now(CLOCK_REALTIME));
  }
  int fd = open(dev, readonly ? O_RDONLY | O_DIRECT : O_RDWR | O_DIRECT | O_SYNC);
  if (fd < 0) { printf("PROBE %s IOERR op=open errno=%d at=%.3f\n", name, errno, now(CLOCK_REALTIME)); return 1; }
  char *wbuf, *rbuf;
  if (posix_memalign((void **)&wbuf, 4096, 4096) || posix_memalign((void **)&rbuf, 4096, 4096)) return 1;

  unsigned long seq = 0, mismatches = 0, ioerrs = 0, stalls = 0;
  double maxms = 0, hbmax = 0;
  while (!stop) {
    seq++;
    double w0 = now(CLOCK_REALTIME), m0 = now(CLOCK_MONOTONIC);
    memset(wbuf, 0, 4096);
    int n = snprintf(wbuf, 4096, "probe %s seq=%lu wall=%.6f", name, seq, w0);
    for (int i = n + 1; i < 4096; i++) wbuf[i] = (char)(seq * 31 + i);
    int bad = 0;
    ssize_t r = readonly ? 4096 : pwrite(fd, wbuf, 4096, off);
    if (r != 4096) { ioerrs++; bad = 1; printf("PROBE %s IOERR op=write errno=%d at=%.3f\n", name, r < 0 ? errno : 0, now(CLOCK_REALTIME)); }
    if (!bad && readonly) {
      r = pread(fd, rbuf, 4096, off);
      if (r != 4096) { ioerrs++; printf("PROBE %s IOERR op=read errno=%d at=%.3f\n", name, r < 0 ? errno : 0, now(CLOCK_REALTIME)); }
    } else if (!bad) {
      memset(rbuf, 0, 4096);
      r = pread(fd, rbuf, 4096, off);
      if (r != 4096) { ioerrs++; bad = 1; printf("PROBE %s IOERR op=read errno=%d at=%.3f\n", name, r < 0 ? errno : 0, now(CLOCK_REALTIME)); }
      else if (memcmp(wbuf, rbuf, 4096) != 0) { mismatches++; printf("PROBE %s MISMATCH seq=%lu at=%.3f\n", name, seq, now(CLOCK_REALTIME)); }
    }
    double w1 = now(CLOCK_REALTIME), m1 = now(CLOCK_MONOTONIC);
    double ms = (m1 - m0) * 1000.0;
    if (lat) fprintf(lat, "%.3f %.1f\n", w0, ms);
    if (ms > maxms) maxms = ms;
    if (ms > hbmax) hbmax = ms;
    if (ms > stall_ms) { stalls++; printf("PROBE %s STALL start=%.3f end=%.3f ms=%.0f\n", name, w0, w1, ms); }
    if (hb_every > 0 && seq % hb_every == 0) {
      printf("PROBE %s HB seq=%lu wall=%.3f mono=%.3f maxms=%.0f\n", name, seq, w1, m1, hbmax);
      hbmax = 0;
    }
    double left = interval / 1000.0 - (now(CLOCK_MONOTONIC) - m0);
    if (left > 0) { struct timespec ts = { (time_t)left, (long)((left - (time_t)left) * 1e9) }; nanosleep(&ts, NULL); }
  }
  if (lat) fclose(lat);
  printf("PROBE %s SUMMARY probes=%lu mismatches=%lu ioerrs=%lu stalls=%lu maxms=%.0f\n", name, seq, mismatches, ioerrs, stalls, maxms);
  close(fd);
  return 0;
}

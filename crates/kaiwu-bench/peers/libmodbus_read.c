/* kaiwu-bench peer: a plain libmodbus read loop (Debian libmodbus).
 *
 * usage: libmodbus_read HOST PORT SECONDS UNITS REGISTERS PERIOD_MS
 *
 * PERIOD_MS = 0: read 125 holding registers of unit 1 in a tight loop for SECONDS, walking
 * through addresses 0..REGISTERS in blocks of 125 (raw throughput).
 * PERIOD_MS > 0: every PERIOD_MS read all REGISTERS of units 1..UNITS in blocks of 125, one
 * request after another on one connection, then sleep until the next period (a poll loop).
 *
 * Prints one JSON line: requests, registers, wall seconds, CPU seconds (getrusage), errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include <modbus.h>

#define BLOCK 125

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
}

/* Read registers [0, regs) of the current slave in blocks; returns errors. */
static long read_all(modbus_t *ctx, int regs, uint16_t *buf, long *requests, long *registers) {
    long errors = 0;
    for (int a = 0; a < regs; a += BLOCK) {
        int n = regs - a < BLOCK ? regs - a : BLOCK;
        if (modbus_read_registers(ctx, a, n, buf) == n)
            *registers += n;
        else
            errors++;
        (*requests)++;
    }
    return errors;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT SECONDS UNITS REGISTERS PERIOD_MS\n", argv[0]);
        return 2;
    }
    double seconds = atof(argv[3]);
    int units = atoi(argv[4]), regs = atoi(argv[5]), period_ms = atoi(argv[6]);
    modbus_t *ctx = modbus_new_tcp(argv[1], atoi(argv[2]));
    if (ctx == NULL || modbus_connect(ctx) == -1) {
        fprintf(stderr, "connect failed: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_set_response_timeout(ctx, 1, 0);
    uint16_t buf[BLOCK];
    long requests = 0, registers = 0, errors = 0;
    double cpu0 = cpu(), t0 = now(), end = t0 + seconds;
    if (period_ms == 0) {
        int blocks = regs / BLOCK > 0 ? regs / BLOCK : 1;
        modbus_set_slave(ctx, 1);
        long i = 0;
        while (now() < end) {
            /* Check the clock every 64 requests only: clock_gettime is cheap but not free. */
            for (int k = 0; k < 64; k++, i++) {
                if (modbus_read_registers(ctx, (int)(i % blocks) * BLOCK, BLOCK, buf) != BLOCK)
                    errors++;
                requests++;
            }
        }
        registers = (requests - errors) * BLOCK;
    } else {
        double next = t0;
        while (next < end) {
            for (int u = 1; u <= units; u++) {
                modbus_set_slave(ctx, u);
                errors += read_all(ctx, regs, buf, &requests, &registers);
            }
            next += period_ms / 1000.0;
            double wait = next - now();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
    }
    double wall = now() - t0, used = cpu() - cpu0;
    printf("{\"requests\":%ld,\"registers\":%ld,\"seconds\":%.6f,\"cpu\":%.6f,\"errors\":%ld}\n",
           requests, registers, wall, used, errors);
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}

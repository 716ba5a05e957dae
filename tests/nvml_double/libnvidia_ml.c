/* A test double of libnvidia-ml.so.1: the C symbols a driver generation exports and the
 * structs it writes, driven by a text spec file ($MLTOOLS_NVML_DOUBLE_SPEC, re-read at
 * every nvmlInit, and by any call once the file was replaced: a test can change the GPUs
 * between two samples of one open session). The real pynvml (nvidia-ml-py) loads it with CDLL("libnvidia-ml.so.1")
 * and looks its functions up by name, so a symbol a profile does not compile in is
 * NVML_ERROR_FUNCTION_NOT_FOUND exactly as on that driver.
 *
 * Profiles are chosen at compile time (see tests/_nvml_double.py PROFILES):
 *   HAVE_PROCS_V2        nvmlDevice{Compute,Graphics}RunningProcesses_v2 (24-byte structs)
 *   HAVE_PROCS_V3        ..._v3
 *   PROCS_V3_STRUCT32    _v3 writes the 32-byte struct with usedGpuCcProtectedMemory
 *                        (drivers 535.43-535.86)
 *   HAVE_MEMINFO_V2      nvmlDeviceGetMemoryInfo_v2
 *   HAVE_EVENT_REASONS   nvmlDeviceGetCurrentClocksEventReasons (R535+)
 *   HAVE_MIG             the MIG calls (R450+)
 *   HAVE_CONFCOMPUTE     nvmlDeviceGetConfComputeMemSizeInfo (R535+)
 *   HAVE_DETAIL_LIST     nvmlDeviceGetRunningProcessDetailList (R550+)
 *   HAVE_NUMA            nvmlDeviceGetNumaNodeId
 *   HAVE_REMOTE_TYPE     nvmlDeviceGetNvLinkRemoteDeviceType
 * The unsuffixed process calls are exported by every profile and write the 16-byte v1
 * struct, as the drivers keep them for binaries built against old headers.
 *
 * Spec lines (tokens separated by blanks; strings are hex so they may be any bytes):
 *   sys driver HEX | sys cuda INT | sys root 0/1 | sys init_error CODE
 *   gpu I KEY VALUE                    KEY: name uuid bus (HEX); util_gpu util_mem mem_total
 *                                      mem_used mem_reserved temp power power_limit fan clock_sm
 *                                      clock_mem pstate throttle ecc persistence compute_mode
 *                                      display mig_cur mig_pend numa lost energy (mJ)
 *                                      pcie_tx pcie_rx (KiB/s) (INT; energy and pcie absent:
 *                                      NotSupported, as on GPUs without the counters)
 *   err I J SYMBOL CODE                SYMBOL on GPU I (J=-1) or its MIG device J returns CODE;
 *                                      I=-1: a system call (nvmlInitWithFlags, nvmlDeviceGetCount_v2)
 *   mig I J GI CI MEM_TOTAL MEM_USED UUID_HEX NAME_HEX
 *   proc I J KIND PID MEM              KIND c/g; J=-1 no MIG; MEM -1 = not available
 *   sample I PID SM                    a process-utilization sample
 *   nvlink I LINK TYPE BUS_HEX         TYPE 0 GPU, 2 NVSwitch
 *   anc I J LEVEL                      nvmlDeviceGetTopologyCommonAncestor
 *   cpu I CPU                          a CPU in GPU I's affinity mask
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef int nvmlReturn_t;
#define OK 0
#define E_UNINIT 1
#define E_INVALID 2
#define E_NOTSUP 3
#define E_NOPERM 4
#define E_NOTFOUND 6
#define E_SIZE 7
#define E_LOST 15
#define E_VERSION 25
#define NA_ULL 0xFFFFFFFFFFFFFFFFULL
#define NA_UINT 0xFFFFFFFFu

#define MAXG 16
#define MAXM 8
#define MAXP 256
#define MAXE 256
#define MAXS 128

typedef struct dev {
    int gpu, mig; /* mig = -1: the physical GPU */
} dev_t_;

typedef struct {
    char name[128], uuid[96], bus[32];
    int name_len, uuid_len;
    unsigned long long util_gpu, util_mem, mem_total, mem_used, mem_reserved, temp, power,
        power_limit, fan, clock_sm, clock_mem, pstate, throttle, ecc, persistence, compute_mode,
        display, mig_cur, mig_pend, numa, lost, energy, pcie_tx, pcie_rx;
    int nmig;
    struct { unsigned gi, ci; unsigned long long total, used; char uuid[96], name[128];
             int uuid_len, name_len; } migs[MAXM];
    struct { int type; char bus[32]; int present; } links[18];
    int nlinks;
    unsigned long long cpus[16];
    int anc[MAXG];
} gpu_t;

typedef struct { int gpu, mig; char kind; unsigned pid; unsigned long long mem; } proc_t;
typedef struct { int gpu, mig; char sym[96]; int code; } err_t;
typedef struct { int gpu; unsigned pid, sm; } sample_t;

static gpu_t G[MAXG];
static dev_t_ H[MAXG][MAXM + 1];
static int NG;
static proc_t P[MAXP];
static int NP;
static err_t E[MAXE];
static int NE;
static sample_t S[MAXS];
static int NS;
static char DRIVER[96];
static int DRIVER_LEN;
static int CUDA, ROOT, INIT_ERROR, INITS;

static int unhex(const char *hex, char *out, int cap) {
    int n = 0;
    if (strcmp(hex, "-") == 0) return 0;
    for (; hex[0] && hex[1] && n < cap - 1; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (char)v;
    }
    out[n] = 0;
    return n;
}

static struct stat SPEC_STAMP; /* the spec file as last read (write_spec replaces it) */

static void load_spec(void) {
    const char *path = getenv("MLTOOLS_NVML_DOUBLE_SPEC");
    memset(&SPEC_STAMP, 0, sizeof SPEC_STAMP);
    if (path) stat(path, &SPEC_STAMP);
    memset(G, 0, sizeof G); NG = NP = NE = NS = 0; CUDA = 0; ROOT = 1; INIT_ERROR = 0;
    DRIVER_LEN = 0; DRIVER[0] = 0;
    for (int i = 0; i < MAXG; i++) for (int j = 0; j < MAXG; j++) G[i].anc[j] = 50;
    for (int i = 0; i < MAXG; i++) G[i].energy = G[i].pcie_tx = G[i].pcie_rx = NA_ULL;
    if (!path) return;
    FILE *fh = fopen(path, "r");
    if (!fh) return;
    char line[1024];
    while (fgets(line, sizeof line, fh)) {
        char kind[16], a[128], b[600], c[256], d[256], e[256], f[256], g[512], h[512];
        int i, j;
        if (sscanf(line, "%15s", kind) != 1) continue;
        if (!strcmp(kind, "sys") && sscanf(line, "%*s %127s %599s", a, b) == 2) {
            if (!strcmp(a, "driver")) DRIVER_LEN = unhex(b, DRIVER, sizeof DRIVER);
            else if (!strcmp(a, "cuda")) CUDA = atoi(b);
            else if (!strcmp(a, "root")) ROOT = atoi(b);
            else if (!strcmp(a, "init_error")) INIT_ERROR = atoi(b);
        } else if (!strcmp(kind, "gpu") && sscanf(line, "%*s %d %127s %599s", &i, a, b) == 3 &&
                   i >= 0 && i < MAXG) {
            gpu_t *x = &G[i];
            if (i + 1 > NG) NG = i + 1;
            if (!strcmp(a, "name")) x->name_len = unhex(b, x->name, sizeof x->name);
            else if (!strcmp(a, "uuid")) x->uuid_len = unhex(b, x->uuid, sizeof x->uuid);
            else if (!strcmp(a, "bus")) unhex(b, x->bus, sizeof x->bus);
#define NUM(k) else if (!strcmp(a, #k)) x->k = strtoull(b, NULL, 0);
            NUM(util_gpu) NUM(util_mem) NUM(mem_total) NUM(mem_used) NUM(mem_reserved) NUM(temp)
            NUM(power) NUM(power_limit) NUM(fan) NUM(clock_sm) NUM(clock_mem) NUM(pstate)
            NUM(throttle) NUM(ecc) NUM(persistence) NUM(compute_mode) NUM(display) NUM(mig_cur)
            NUM(mig_pend) NUM(numa) NUM(lost) NUM(energy) NUM(pcie_tx) NUM(pcie_rx)
        } else if (!strcmp(kind, "err") && NE < MAXE &&
                   sscanf(line, "%*s %d %d %95s %255s", &i, &j, a, c) == 4) {
            E[NE].gpu = i; E[NE].mig = j; strcpy(E[NE].sym, a); E[NE].code = atoi(c); NE++;
        } else if (!strcmp(kind, "mig") &&
                   sscanf(line, "%*s %d %d %255s %255s %255s %255s %511s %511s", &i, &j, c, d, e,
                          f, g, h) == 8 && i >= 0 && i < MAXG && j >= 0 && j < MAXM) {
            gpu_t *x = &G[i];
            x->migs[j].gi = strtoul(c, NULL, 0); x->migs[j].ci = strtoul(d, NULL, 0);
            x->migs[j].total = strtoull(e, NULL, 0); x->migs[j].used = strtoull(f, NULL, 0);
            x->migs[j].uuid_len = unhex(g, x->migs[j].uuid, sizeof x->migs[j].uuid);
            x->migs[j].name_len = unhex(h, x->migs[j].name, sizeof x->migs[j].name);
            if (j + 1 > x->nmig) x->nmig = j + 1;
        } else if (!strcmp(kind, "proc") && NP < MAXP &&
                   sscanf(line, "%*s %d %d %127s %255s %255s", &i, &j, a, c, d) == 5) {
            P[NP].gpu = i; P[NP].mig = j; P[NP].kind = a[0]; P[NP].pid = strtoul(c, NULL, 0);
            P[NP].mem = d[0] == '-' ? NA_ULL : strtoull(d, NULL, 0); NP++;
        } else if (!strcmp(kind, "sample") && NS < MAXS &&
                   sscanf(line, "%*s %d %255s %255s", &i, c, d) == 3) {
            S[NS].gpu = i; S[NS].pid = strtoul(c, NULL, 0); S[NS].sm = strtoul(d, NULL, 0); NS++;
        } else if (!strcmp(kind, "nvlink") &&
                   sscanf(line, "%*s %d %d %255s %255s", &i, &j, c, d) == 4 && i >= 0 && i < MAXG &&
                   j >= 0 && j < 18) {
            G[i].links[j].present = 1; G[i].links[j].type = atoi(c);
            unhex(d, G[i].links[j].bus, sizeof G[i].links[j].bus);
            G[i].nlinks++;
        } else if (!strcmp(kind, "anc") && sscanf(line, "%*s %d %d %255s", &i, &j, c) == 3 &&
                   i >= 0 && i < MAXG && j >= 0 && j < MAXG) {
            G[i].anc[j] = G[j].anc[i] = atoi(c);
        } else if (!strcmp(kind, "cpu") && sscanf(line, "%*s %d %d", &i, &j) == 2 && i >= 0 &&
                   i < MAXG && j >= 0 && j < 1024) {
            G[i].cpus[j / 64] |= 1ULL << (j % 64);
        }
    }
    fclose(fh);
    for (int i = 0; i < MAXG; i++) {
        H[i][0].gpu = i; H[i][0].mig = -1;
        for (int j = 0; j < MAXM; j++) { H[i][j + 1].gpu = i; H[i][j + 1].mig = j; }
    }
}

/* Re-read the spec when the file was replaced since it was read (another inode or mtime). */
static void refresh_spec(void) {
    const char *path = getenv("MLTOOLS_NVML_DOUBLE_SPEC");
    struct stat now;
    if (!path || stat(path, &now) != 0) return;
    if (now.st_ino != SPEC_STAMP.st_ino || now.st_mtim.tv_sec != SPEC_STAMP.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != SPEC_STAMP.st_mtim.tv_nsec || now.st_size != SPEC_STAMP.st_size)
        load_spec();
}

static int injected(int gpu, int mig, const char *sym) {
    refresh_spec();
    for (int k = 0; k < NE; k++)
        if (E[k].gpu == gpu && E[k].mig == mig && !strcmp(E[k].sym, sym)) return E[k].code;
    return 0;
}

/* Common checks of a device call: initialised, a valid handle, lost, injected codes. */
#define DEV(h)                                                                    \
    refresh_spec();                                                               \
    if (INITS <= 0) return E_UNINIT;                                              \
    if (!(h)) return E_INVALID;                                                   \
    dev_t_ *d = (dev_t_ *)(h);                                                    \
    gpu_t *g = &G[d->gpu];                                                        \
    (void)g;                                                                      \
    if (G[d->gpu].lost) return E_LOST;                                            \
    { int code_ = injected(d->gpu, d->mig, __func__); if (code_) return code_; }

#define OUT(p) if (!(p)) return E_INVALID;

static nvmlReturn_t copy_str(const char *src, int len, char *dst, unsigned cap) {
    if (!dst) return E_INVALID;
    if ((unsigned)len + 1 > cap) return E_SIZE;
    memcpy(dst, src, len);
    dst[len] = 0;
    return OK;
}

/* ---- system ---- */
static nvmlReturn_t do_init(const char *sym) {
    load_spec();
    int code = injected(-1, -1, sym);
    if (INIT_ERROR) return INIT_ERROR;
    if (code) return code;
    INITS++;
    return OK;
}
nvmlReturn_t nvmlInit(void) { return do_init("nvmlInit"); }
nvmlReturn_t nvmlInit_v2(void) { return do_init("nvmlInit_v2"); }
nvmlReturn_t nvmlInitWithFlags(unsigned flags) { (void)flags; return do_init("nvmlInitWithFlags"); }
nvmlReturn_t nvmlShutdown(void) {
    if (INITS <= 0) return E_UNINIT;
    INITS--;
    return OK;
}
/* for tests: how many nvmlInit are not yet shut down */
int mltools_double_init_count(void) { return INITS; }

const char *nvmlErrorString(nvmlReturn_t r) {
    switch (r) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 12: return "NVML Shared Library Not Found";
    case 13: return "Function Not Found";
    case 15: return "GPU is lost";
    case 16: return "GPU requires restart";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    case 25: return "Argument version mismatch";
    case 27: return "Not Ready";
    case 999: return "Unknown Error";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *v, unsigned len) {
    if (INITS <= 0) return E_UNINIT;
    int code = injected(-1, -1, __func__);
    if (code) return code;
    return copy_str(DRIVER, DRIVER_LEN, v, len);
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) {
    int code = injected(-1, -1, __func__);
    if (code) return code;
    OUT(v); *v = CUDA; return OK;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { return nvmlSystemGetCudaDriverVersion(v); }

static nvmlReturn_t get_count(unsigned *n, const char *sym) {
    refresh_spec();
    if (INITS <= 0) return E_UNINIT;
    int code = injected(-1, -1, sym);
    if (code) return code;
    OUT(n); *n = NG; return OK;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned *n) { return get_count(n, "nvmlDeviceGetCount"); }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n) { return get_count(n, "nvmlDeviceGetCount_v2"); }

static nvmlReturn_t by_index(unsigned i, void **h, const char *sym) {
    refresh_spec();
    if (INITS <= 0) return E_UNINIT;
    if (i >= (unsigned)NG) return E_INVALID;
    int code = injected(i, -1, sym);
    if (code) return code;
    OUT(h); *h = &H[i][0]; return OK;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned i, void **h) { return by_index(i, h, "nvmlDeviceGetHandleByIndex"); }
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, void **h) { return by_index(i, h, "nvmlDeviceGetHandleByIndex_v2"); }

/* ---- identity ---- */
nvmlReturn_t nvmlDeviceGetName(void *h, char *out, unsigned len) {
    DEV(h);
    if (d->mig >= 0) return copy_str(g->migs[d->mig].name, g->migs[d->mig].name_len, out, len);
    return copy_str(g->name, g->name_len, out, len);
}
nvmlReturn_t nvmlDeviceGetUUID(void *h, char *out, unsigned len) {
    DEV(h);
    if (d->mig >= 0) return copy_str(g->migs[d->mig].uuid, g->migs[d->mig].uuid_len, out, len);
    return copy_str(g->uuid, g->uuid_len, out, len);
}
nvmlReturn_t nvmlDeviceGetIndex(void *h, unsigned *i) { DEV(h); OUT(i); *i = d->gpu; return OK; }

typedef struct {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} pci_t;
static void fill_pci(const char *bus, pci_t *p) {
    memset(p, 0, sizeof *p);
    strncpy(p->busId, bus, 31);
    if (strlen(bus) > 4) strncpy(p->busIdLegacy, bus + 4, 15);
    sscanf(bus, "%x:%x:%x", &p->domain, &p->bus, &p->device);
    p->pciDeviceId = 0x20B210DE;
}
nvmlReturn_t nvmlDeviceGetPciInfo_v3(void *h, pci_t *p) { DEV(h); OUT(p); fill_pci(g->bus, p); return OK; }
nvmlReturn_t nvmlDeviceGetPciInfo_v2(void *h, pci_t *p) { DEV(h); OUT(p); fill_pci(g->bus, p); return OK; }

/* ---- utilization, memory, sensors ---- */
typedef struct { unsigned gpu, memory; } util_t;
nvmlReturn_t nvmlDeviceGetUtilizationRates(void *h, util_t *u) {
    DEV(h); OUT(u);
    if (g->mig_cur) return E_NOTSUP;
    u->gpu = g->util_gpu; u->memory = g->util_mem; return OK;
}
nvmlReturn_t nvmlDeviceGetEncoderUtilization(void *h, unsigned *u, unsigned *period) {
    DEV(h); OUT(u); OUT(period); *u = g->util_gpu / 4; *period = 167000; return OK;
}
nvmlReturn_t nvmlDeviceGetDecoderUtilization(void *h, unsigned *u, unsigned *period) {
    DEV(h); OUT(u); OUT(period); *u = g->util_gpu / 8; *period = 167000; return OK;
}
typedef struct { unsigned long long total, free, used; } mem1_t;
typedef struct { unsigned version; unsigned long long total, reserved, free, used; } mem2_t;
nvmlReturn_t nvmlDeviceGetMemoryInfo(void *h, mem1_t *m) {
    DEV(h); OUT(m);
    if (d->mig >= 0) {
        m->total = g->migs[d->mig].total; m->used = g->migs[d->mig].used;
        m->free = m->total - m->used; return OK;
    }
    /* v1: "used" includes the driver's reservation */
    m->total = g->mem_total; m->used = g->mem_used + g->mem_reserved;
    m->free = g->mem_total - g->mem_used - g->mem_reserved; return OK;
}
#ifdef HAVE_MEMINFO_V2
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(void *h, mem2_t *m) {
    DEV(h); OUT(m);
    if (m->version != (unsigned)(sizeof(mem2_t) | 2 << 24)) return E_VERSION;
    if (d->mig >= 0) {
        m->total = g->migs[d->mig].total; m->used = g->migs[d->mig].used; m->reserved = 0;
        m->free = m->total - m->used; return OK;
    }
    m->total = g->mem_total; m->used = g->mem_used; m->reserved = g->mem_reserved;
    m->free = g->mem_total - g->mem_used - g->mem_reserved; return OK;
}
#endif
nvmlReturn_t nvmlDeviceGetTemperature(void *h, int sensor, unsigned *t) {
    DEV(h); OUT(t); if (sensor != 0) return E_INVALID; *t = g->temp; return OK;
}
nvmlReturn_t nvmlDeviceGetPowerUsage(void *h, unsigned *p) { DEV(h); OUT(p); *p = g->power; return OK; }
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(void *h, unsigned long long *e) {
    DEV(h); OUT(e); if (g->energy == NA_ULL) return E_NOTSUP; *e = g->energy; return OK;
}
nvmlReturn_t nvmlDeviceGetPcieThroughput(void *h, int counter, unsigned *v) {
    DEV(h); OUT(v);
    unsigned long long x = counter == 0 ? g->pcie_tx : counter == 1 ? g->pcie_rx : NA_ULL;
    if (counter < 0 || counter > 1) return E_INVALID;
    if (x == NA_ULL) return E_NOTSUP;
    *v = (unsigned)x; return OK;
}
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(void *h, unsigned *p) { DEV(h); OUT(p); *p = g->power_limit; return OK; }
nvmlReturn_t nvmlDeviceGetFanSpeed(void *h, unsigned *f) { DEV(h); OUT(f); *f = g->fan; return OK; }
nvmlReturn_t nvmlDeviceGetClockInfo(void *h, int type, unsigned *c) {
    DEV(h); OUT(c);
    if (type == 1) *c = g->clock_sm; else if (type == 2) *c = g->clock_mem; else if (type == 0) *c = g->clock_sm;
    else return E_INVALID;
    return OK;
}
nvmlReturn_t nvmlDeviceGetPerformanceState(void *h, int *p) { DEV(h); OUT(p); *p = g->pstate; return OK; }
nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(void *h, unsigned long long *r) {
    DEV(h); OUT(r); *r = g->throttle; return OK;
}
#ifdef HAVE_EVENT_REASONS
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(void *h, unsigned long long *r) {
    DEV(h); OUT(r); *r = g->throttle; return OK;
}
#endif
nvmlReturn_t nvmlDeviceGetTotalEccErrors(void *h, int type, int counter, unsigned long long *n) {
    DEV(h); OUT(n); (void)type; (void)counter; *n = g->ecc; return OK;
}
nvmlReturn_t nvmlDeviceGetPersistenceMode(void *h, int *m) { DEV(h); OUT(m); *m = g->persistence; return OK; }
nvmlReturn_t nvmlDeviceGetComputeMode(void *h, int *m) { DEV(h); OUT(m); *m = g->compute_mode; return OK; }
nvmlReturn_t nvmlDeviceGetDisplayActive(void *h, int *m) { DEV(h); OUT(m); *m = g->display; return OK; }

/* ---- MIG ---- */
#ifdef HAVE_MIG
nvmlReturn_t nvmlDeviceGetMigMode(void *h, unsigned *cur, unsigned *pend) {
    DEV(h); OUT(cur); OUT(pend); *cur = g->mig_cur; *pend = g->mig_pend; return OK;
}
nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(void *h, unsigned *n) {
    DEV(h); OUT(n); *n = g->mig_cur ? 7 : 0; return OK;
}
nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(void *h, unsigned j, void **out) {
    DEV(h); OUT(out);
    if (!g->mig_cur) return E_INVALID;
    if (j >= 7) return E_INVALID;
    if ((int)j >= g->nmig || g->migs[j].uuid_len == 0) return E_NOTFOUND;
    *out = &H[d->gpu][j + 1]; return OK;
}
nvmlReturn_t nvmlDeviceGetGpuInstanceId(void *h, unsigned *id) {
    DEV(h); OUT(id); if (d->mig < 0) return E_NOTSUP; *id = g->migs[d->mig].gi; return OK;
}
nvmlReturn_t nvmlDeviceGetComputeInstanceId(void *h, unsigned *id) {
    DEV(h); OUT(id); if (d->mig < 0) return E_NOTSUP; *id = g->migs[d->mig].ci; return OK;
}
#endif

/* ---- processes ---- */
typedef struct { unsigned pid; unsigned long long usedGpuMemory; } proc_v1_t;                      /* 16 B */
typedef struct { unsigned pid; unsigned long long usedGpuMemory; unsigned gi, ci; } proc_v2_t;     /* 24 B */
typedef struct { unsigned pid; unsigned long long usedGpuMemory; unsigned gi, ci;
                 unsigned long long usedGpuCcProtectedMemory; } proc_v3cc_t;                    /* 32 B */

/* layout: 1 = v1, 2 = v2 (24 B), 3 = 32 B */
static nvmlReturn_t procs(dev_t_ *d, char kind, unsigned *count, void *out, int layout) {
    gpu_t *g = &G[d->gpu];
    if (!count) return E_INVALID;
    int parent = d->mig < 0;
    if (parent && g->mig_cur && !ROOT) return E_NOPERM; /* aggregate needs privileges */
    proc_t *sel[MAXP];
    unsigned n = 0;
    for (int k = 0; k < NP; k++) {
        if (P[k].gpu != d->gpu || P[k].kind != kind) continue;
        if (!parent && P[k].mig != d->mig) continue;
        sel[n++] = &P[k];
    }
    if (*count < n || (n && !out)) { *count = n; return n ? E_SIZE : OK; }
    for (unsigned k = 0; k < n; k++) {
        proc_t *p = sel[k];
        unsigned long long mem = p->mem;
        unsigned gi = NA_UINT, ci = NA_UINT;
        if (g->mig_cur && p->mig >= 0) {
            gi = g->migs[p->mig].gi; ci = g->migs[p->mig].ci;
            if (parent) mem = NA_ULL; /* the aggregate view has no per-process memory */
        }
        if (layout == 1) {
            proc_v1_t *o = (proc_v1_t *)out + k; o->pid = p->pid; o->usedGpuMemory = mem;
        } else if (layout == 2) {
            proc_v2_t *o = (proc_v2_t *)out + k;
            o->pid = p->pid; o->usedGpuMemory = mem; o->gi = gi; o->ci = ci;
        } else {
            proc_v3cc_t *o = (proc_v3cc_t *)out + k;
            o->pid = p->pid; o->usedGpuMemory = mem; o->gi = gi; o->ci = ci;
            o->usedGpuCcProtectedMemory = 0;
        }
    }
    *count = n;
    return OK;
}
#define PROCS(name, kind, layout) \
    nvmlReturn_t name(void *h, unsigned *count, void *out) { DEV(h); return procs(d, kind, count, out, layout); }
PROCS(nvmlDeviceGetComputeRunningProcesses, 'c', 1)
PROCS(nvmlDeviceGetGraphicsRunningProcesses, 'g', 1)
#ifdef HAVE_PROCS_V2
PROCS(nvmlDeviceGetComputeRunningProcesses_v2, 'c', 2)
PROCS(nvmlDeviceGetGraphicsRunningProcesses_v2, 'g', 2)
#endif
#ifdef HAVE_PROCS_V3
#ifdef PROCS_V3_STRUCT32
PROCS(nvmlDeviceGetComputeRunningProcesses_v3, 'c', 3)
PROCS(nvmlDeviceGetGraphicsRunningProcesses_v3, 'g', 3)
#else
PROCS(nvmlDeviceGetComputeRunningProcesses_v3, 'c', 2)
PROCS(nvmlDeviceGetGraphicsRunningProcesses_v3, 'g', 2)
#endif
#endif
#ifdef HAVE_CONFCOMPUTE
nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(void *h, void *info) { DEV(h); (void)info; return E_NOTSUP; }
#endif
#ifdef HAVE_DETAIL_LIST
nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(void *h, void *list) { DEV(h); (void)list; return E_NOTSUP; }
#endif

typedef struct { unsigned pid; unsigned long long timeStamp; unsigned smUtil, memUtil, encUtil, decUtil; } sample_c;
nvmlReturn_t nvmlDeviceGetProcessUtilization(void *h, sample_c *out, unsigned *count, unsigned long long last) {
    DEV(h); OUT(count); (void)last;
    unsigned n = 0;
    for (int k = 0; k < NS; k++) if (S[k].gpu == d->gpu) n++;
    if (!n) return E_NOTFOUND;
    if (!out || *count < n) { *count = n; return E_SIZE; }
    unsigned m = 0;
    for (int k = 0; k < NS; k++) {
        if (S[k].gpu != d->gpu) continue;
        memset(&out[m], 0, sizeof out[m]);
        out[m].pid = S[k].pid; out[m].timeStamp = 1700000000000000ULL + k; out[m].smUtil = S[k].sm;
        m++;
    }
    *count = m;
    return OK;
}

/* ---- topology ---- */
nvmlReturn_t nvmlDeviceGetNvLinkState(void *h, unsigned link, int *active) {
    DEV(h); OUT(active);
    if (!g->nlinks) return E_NOTSUP;
    if (link >= 12) return E_INVALID;
    *active = g->links[link].present; return OK;
}
#ifdef HAVE_REMOTE_TYPE
nvmlReturn_t nvmlDeviceGetNvLinkRemoteDeviceType(void *h, unsigned link, int *type) {
    DEV(h); OUT(type);
    if (link >= 12 || !g->links[link].present) return E_INVALID;
    *type = g->links[link].type; return OK;
}
#endif
nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(void *h, unsigned link, pci_t *p) {
    DEV(h); OUT(p);
    if (link >= 12 || !g->links[link].present) return E_INVALID;
    fill_pci(g->links[link].bus, p); return OK;
}
nvmlReturn_t nvmlDeviceGetTopologyCommonAncestor(void *a, void *b, int *level) {
    DEV(a); OUT(level);
    if (!b) return E_INVALID;
    dev_t_ *o = (dev_t_ *)b;
    if (G[o->gpu].lost) return E_LOST;
    *level = d->gpu == o->gpu ? 0 : g->anc[o->gpu]; return OK;
}
nvmlReturn_t nvmlDeviceGetCpuAffinity(void *h, unsigned size, unsigned long *set) {
    DEV(h); OUT(set);
    for (unsigned w = 0; w < size; w++) set[w] = w < 16 ? g->cpus[w] : 0;
    return OK;
}
#ifdef HAVE_NUMA
nvmlReturn_t nvmlDeviceGetNumaNodeId(void *h, unsigned *node) { DEV(h); OUT(node); *node = g->numa; return OK; }
#endif

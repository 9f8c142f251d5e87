/*
 * portal-sandbox-init: starts one local sandbox and stays inside it as its PID 1.
 *
 * Why not bubblewrap: bwrap always sets PR_SET_NO_NEW_PRIVS, so nothing in a bwrap sandbox
 * can gain privileges through a set-uid binary and `sudo` (which E2B's base image offers the
 * `user` account) cannot work. This launcher does the same namespace set-up, does NOT set that
 * flag, and limits root inside to Docker's default capability set instead. It also makes
 * /proc/sys and the other kernel knobs under /proc read-only, as Docker does.
 *
 *   portal-sandbox-init run --root DIR [--hostname NAME] [--cgroup PROCS_FILE]...
 *       [--bind SRC DST]... [--ro-bind SRC DST]... [--cap NAME]... [--env K=V]... [--log FILE]
 *       [--tmp-size SIZE] [--shm-size SIZE] [--cpus N,N...] -- PROGRAM [ARGS...]
 *     DIR is an already mounted root filesystem (the sandbox's overlay). Joins the cgroups,
 *     creates mount, pid, uts, ipc, net and cgroup namespaces, mounts /proc, a minimal /dev
 *     with its own devpts, a private /tmp and /dev/shm (tmpfs of at most SIZE bytes, suffix k/m/g
 *     allowed: their pages count against the sandbox's memory) and the binds, brings loopback up, pivots into DIR,
 *     keeps only the named capabilities and runs PROGRAM (a path inside DIR) in its own
 *     session. --cpus sets the CPU affinity everything in the sandbox inherits (nproc reads it).
 *     A bind may target an existing file under /proc (lxcfs's views, a fresh boot_id). Prints the host PID of the sandbox's init once everything is set up and exits;
 *     the sandbox runs on, detached. It ends when PROGRAM exits.
 *
 *   portal-sandbox-init resize --pid PID [--tmp-size SIZE] [--shm-size SIZE]
 *     Changes the size caps of /tmp and /dev/shm in the sandbox PID belongs to (a warm sandbox
 *     claimed with another memory limit). Enters only its mount namespace; runs nothing of the
 *     sandbox's.
 *
 * Exit status 0 on success; otherwise a one-line reason on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_LIST 32

struct bind {
  const char *src, *dst;
  int ro;
};

struct config {
  const char *root, *hostname, *log;
  const char *tmp_size, *shm_size; /* tmpfs size= values, or NULL for the kernel's default (half of RAM) */
  const char *cgroups[MAX_LIST];
  int ncgroups;
  struct bind binds[MAX_LIST];
  int nbinds;
  unsigned long long caps; /* bit n = capability n is kept */
  cpu_set_t cpus;
  int has_cpus;
  char *env[MAX_LIST + 1];
  int nenv;
  char **argv;
};

static int status_fd = -1; /* sandbox init -> launcher: "OK" or why set-up failed */

static void die(const char *fmt, ...) {
  char msg[512];
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg - 80, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof msg - 80) n = sizeof msg - 80;
  if (saved) snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
  if (status_fd >= 0) (void)!write(status_fd, msg, strlen(msg));
  else fprintf(stderr, "portal-sandbox-init: %s\n", msg);
  _exit(1);
}

static const struct { const char *name; int bit; } cap_names[] = {
    {"CAP_CHOWN", 0},          {"CAP_DAC_OVERRIDE", 1}, {"CAP_DAC_READ_SEARCH", 2}, {"CAP_FOWNER", 3},
    {"CAP_FSETID", 4},         {"CAP_KILL", 5},         {"CAP_SETGID", 6},          {"CAP_SETUID", 7},
    {"CAP_SETPCAP", 8},        {"CAP_NET_BIND_SERVICE", 10}, {"CAP_NET_RAW", 13},  {"CAP_SYS_CHROOT", 18},
    {"CAP_MKNOD", 27},         {"CAP_AUDIT_WRITE", 29}, {"CAP_SETFCAP", 31},
};

static int cap_bit(const char *name) {
  for (size_t i = 0; i < sizeof cap_names / sizeof *cap_names; i++)
    if (!strcmp(cap_names[i].name, name)) return cap_names[i].bit;
  errno = 0;
  die("unknown or not allowed capability '%s'", name);
  return -1;
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open %s", path);
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) die("write %s", path);
  close(fd);
}

static void mkdirs(const char *path, mode_t mode) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, mode) < 0 && errno != EEXIST) die("mkdir %s", buf);
    *p = '/';
  }
  if (mkdir(buf, mode) < 0 && errno != EEXIST) die("mkdir %s", buf);
  errno = 0;
}

static void ensure_file(const char *path) {
  /* Existing targets stay as they are (files under a read-only /proc/sys cannot be opened for writing). */
  if (access(path, F_OK) == 0) return;
  errno = 0;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    mkdirs(dir, 0755);
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 && errno != EEXIST && errno != EISDIR) die("create %s", path);
  if (fd >= 0) close(fd);
  errno = 0;
}

/*
 * A mount point's path inside the new root is resolved before pivot_root, from the host's root:
 * a symlink on it would lead out of the sandbox's tree onto the host's (and mkdirs/ensure_file
 * would create there). A root filesystem's files are its owners' (snapshots, builds, images,
 * a sandbox rebooting after a pause), so: a symlink as a leading component is refused, one as
 * the last component (e.g. an image's /etc/resolv.conf) is removed and made again as a plain entry.
 */
static void contain(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf;; p++) {
    if (*p != '/' && *p != 0) continue;
    char saved = *p;
    *p = 0;
    struct stat st;
    if (lstat(buf, &st) == 0 && S_ISLNK(st.st_mode)) {
      if (saved != 0) die("%s is a symlink in the sandbox's root filesystem: refused, a mount under it could leave the sandbox", buf);
      if (unlink(buf) < 0) die("unlink %s", buf);
    }
    *p = saved;
    if (saved == 0) break;
  }
  errno = 0;
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) < 0) die("mount %s on %s", type ? type : src, dst);
}

static void bind_ro(const char *src, const char *dst, unsigned long extra) {
  do_mount(src, dst, NULL, MS_BIND | MS_REC, NULL);
  do_mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | extra, NULL);
}

/* Paths inside the new root, relative to the current directory (the new root itself). */
static const char *rel(const char *inside) {
  while (*inside == '/') inside++;
  return *inside ? inside : ".";
}

/* Docker's masks: kernel knobs read-only, kernel memory and timing views hidden. */
static void setup_proc(void) {
  contain("proc");
  mkdirs("proc", 0555);
  do_mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  static const char *ro[] = {"proc/sys", "proc/sysrq-trigger", "proc/irq", "proc/bus", "proc/fs"};
  for (size_t i = 0; i < sizeof ro / sizeof *ro; i++)
    if (access(ro[i], F_OK) == 0) bind_ro(ro[i], ro[i], MS_NOSUID | MS_NODEV | MS_NOEXEC);
  static const char *hidden[] = {"proc/kcore", "proc/keys", "proc/timer_list", "proc/sched_debug", "proc/latency_stats"};
  for (size_t i = 0; i < sizeof hidden / sizeof *hidden; i++)
    if (access(hidden[i], F_OK) == 0) do_mount("/dev/null", hidden[i], NULL, MS_BIND, NULL);
  static const char *empty[] = {"proc/acpi", "proc/scsi"};
  for (size_t i = 0; i < sizeof empty / sizeof *empty; i++)
    if (access(empty[i], F_OK) == 0) do_mount("tmpfs", empty[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
  errno = 0;
}

/* tmpfs options "mode=1777[,size=SIZE]" for a world-writable tmpfs. */
static const char *sticky_tmpfs(char *buf, size_t len, const char *size) {
  if (size) snprintf(buf, len, "mode=1777,size=%s", size);
  else snprintf(buf, len, "mode=1777");
  return buf;
}

static void setup_dev(const struct config *c) {
  contain("dev");
  mkdirs("dev", 0755);
  do_mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1024k");
  static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
    char host[64], dst[64];
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    snprintf(dst, sizeof dst, "dev/%s", nodes[i]);
    ensure_file(dst);
    do_mount(host, dst, NULL, MS_BIND, NULL);
  }
  mkdirs("dev/pts", 0755);
  do_mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  if (symlink("pts/ptmx", "dev/ptmx") < 0) die("symlink dev/ptmx");
  mkdirs("dev/shm", 01777);
  char opts[64];
  do_mount("tmpfs", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, sticky_tmpfs(opts, sizeof opts, c->shm_size));
  static const char *links[][2] = {{"/proc/self/fd", "dev/fd"},
                                   {"/proc/self/fd/0", "dev/stdin"},
                                   {"/proc/self/fd/1", "dev/stdout"},
                                   {"/proc/self/fd/2", "dev/stderr"}};
  for (size_t i = 0; i < sizeof links / sizeof *links; i++)
    if (symlink(links[i][0], links[i][1]) < 0) die("symlink %s", links[i][1]);
}

static void setup_binds(const struct config *c) {
  for (int i = 0; i < c->nbinds; i++) {
    const struct bind *b = &c->binds[i];
    struct stat st;
    if (stat(b->src, &st) < 0) die("bind source %s", b->src);
    const char *dst = rel(b->dst);
    contain(dst);
    if (S_ISDIR(st.st_mode)) mkdirs(dst, 0755); else ensure_file(dst);
    if (b->ro) bind_ro(b->src, dst, MS_NOSUID | MS_NODEV);
    else do_mount(b->src, dst, NULL, MS_BIND | MS_REC, NULL);
  }
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("SIOCSIFFLAGS lo");
  close(s);
}

/* Keeps only c->caps: out of the bounding set (so no exec can regain them) and out of this
 * process's own sets. Root keeps its uid; set-uid binaries still work (no NO_NEW_PRIVS). */
static void limit_capabilities(const struct config *c) {
  for (int cap = 0; cap < 64; cap++) {
    if (c->caps & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("drop capability %d", cap);
  }
  errno = 0;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int i = 0; i < 2; i++) {
    unsigned int bits = (unsigned int)(c->caps >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = bits;
  }
  if (syscall(SYS_capset, &hdr, data) < 0) die("capset");
}

static pid_t main_pid;
static char **arg_area; /* our own argv: host paths that processes in the sandbox could read */
static int arg_count;

/* /proc/1/cmdline inside the sandbox is read from this memory: keep host paths out of it. */
static void hide_arguments(void) {
  char *start = arg_area[0], *end = arg_area[arg_count - 1] + strlen(arg_area[arg_count - 1]);
  memset(start, 0, (size_t)(end - start));
  snprintf(start, (size_t)(end - start) + 1, "portal-sandbox-init");
}

static void forward(int sig) {
  if (main_pid > 0) kill(main_pid, sig);
}

static pid_t spawn(const struct config *c) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid > 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  setsid();
  execve(c->argv[0], c->argv, c->env);
  fprintf(stderr, "portal-sandbox-init: exec %s: %s\n", c->argv[0], strerror(errno));
  _exit(127);
}

/* PID 1 of the sandbox. */
static int sandbox_init(struct config *c) {
  prctl(PR_SET_PDEATHSIG, 0);
  /* Nothing mounted from here on may propagate back to the host. */
  do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  do_mount(c->root, c->root, NULL, MS_BIND | MS_REC, NULL); /* pivot_root wants a mount point */
  if (chdir(c->root) < 0) die("chdir %s", c->root);
  setup_proc();
  setup_dev(c);
  contain("tmp");
  mkdirs("tmp", 01777);
  char opts[64];
  do_mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, sticky_tmpfs(opts, sizeof opts, c->tmp_size));
  setup_binds(c);
  if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0) die("sethostname");
  loopback_up();

  /* Swap roots and let go of the host's tree entirely. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root");
  if (umount2(".", MNT_DETACH) < 0) die("umount old root");
  if (chdir("/") < 0) die("chdir /");

  limit_capabilities(c);

  signal(SIGTERM, forward);
  signal(SIGINT, forward);
  signal(SIGHUP, SIG_IGN);
  main_pid = spawn(c);

  (void)!write(status_fd, "OK", 2);
  close(status_fd);
  status_fd = -1;
  hide_arguments();

  /* Reap every orphan; leave, taking the whole namespace down, when the agent does. */
  for (;;) {
    int st;
    pid_t p = wait(&st);
    if (p < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p == main_pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
}

/* A size for tmpfs: digits and an optional k, m or g; never anything that could add options. */
static const char *tmpfs_size(const char *option, const char *v) {
  size_t n = strspn(v, "0123456789");
  if (n == 0 || n > 15 || (v[n] && (strchr("kmg", v[n]) == NULL || v[n + 1]))) {
    errno = 0;
    die("%s must be a number of bytes with an optional k, m or g suffix, not '%s'", option, v);
  }
  return v;
}

/* The sandbox's init and envd are the OOM killer's last choice: a memory-limit kill must take
 * the process that used the memory, not the agent. Lowering the score needs CAP_SYS_RESOURCE;
 * without it (a portal that runs without that capability) the score stays 0 and envd still
 * ranks below the processes it starts, which it raises (Portal.Envd/Process/OomScore.cs). */
static void protect_from_oom_killer(void) {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)!write(fd, "-1000", 5);
  close(fd);
  errno = 0;
}

/* Whatever the portal inherited from its own parent (a shell's lock file, a log) must not reach
 * the sandbox: an open descriptor is a way back to a host file, and it keeps locks held. */
static void close_inherited_fds(void) {
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = 3; fd < (max > 0 ? max : 65536); fd++) close((int)fd);
}

/* "0,3,5": CPU numbers, comma-separated; nothing else. */
static void parse_cpus(struct config *c, const char *v) {
  CPU_ZERO(&c->cpus);
  const char *p = v;
  while (*p) {
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 4) { errno = 0; die("--cpus must be CPU numbers separated by commas, not '%s'", v); }
    int cpu = atoi(p);
    if (cpu >= CPU_SETSIZE) { errno = 0; die("--cpus: CPU %d is out of range", cpu); }
    CPU_SET(cpu, &c->cpus);
    p += n;
    if (*p == ',') p++;
    else if (*p) { errno = 0; die("--cpus must be CPU numbers separated by commas, not '%s'", v); }
  }
  c->has_cpus = 1;
}

static int cmd_run(int argc, char **argv) {
  close_inherited_fds();
  struct config c = {0};
  int i = 2;
  for (; i < argc; i++) {
    const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (errno = 0, die("%s needs a value", a), (char *)0))
    if (!strcmp(a, "--")) { i++; break; }
    else if (!strcmp(a, "--root")) c.root = NEXT();
    else if (!strcmp(a, "--hostname")) c.hostname = NEXT();
    else if (!strcmp(a, "--log")) c.log = NEXT();
    else if (!strcmp(a, "--tmp-size")) c.tmp_size = tmpfs_size(a, NEXT());
    else if (!strcmp(a, "--shm-size")) c.shm_size = tmpfs_size(a, NEXT());
    else if (!strcmp(a, "--cap")) c.caps |= 1ULL << cap_bit(NEXT());
    else if (!strcmp(a, "--cpus")) parse_cpus(&c, NEXT());
    else if (!strcmp(a, "--cgroup")) {
      if (c.ncgroups == MAX_LIST) { errno = 0; die("too many --cgroup"); }
      c.cgroups[c.ncgroups++] = NEXT();
    } else if (!strcmp(a, "--bind") || !strcmp(a, "--ro-bind")) {
      if (c.nbinds == MAX_LIST) { errno = 0; die("too many binds"); }
      struct bind *b = &c.binds[c.nbinds++];
      b->ro = !strcmp(a, "--ro-bind");
      b->src = NEXT();
      b->dst = NEXT();
    } else if (!strcmp(a, "--env")) {
      if (c.nenv == MAX_LIST) { errno = 0; die("too many --env"); }
      c.env[c.nenv++] = NEXT();
    } else { errno = 0; die("unknown option '%s'", a); }
#undef NEXT
  }
  if (!c.root || i >= argc) { errno = 0; die("usage: portal-sandbox-init run --root DIR [options] -- PROGRAM [ARGS]"); }
  if (c.root[0] != '/') { errno = 0; die("--root must be an absolute path"); }
  c.argv = &argv[i];
  c.env[c.nenv] = NULL;

  /* Its own session: the sandbox outlives the portal and never gets its terminal. */
  setsid();
  int logfd = c.log ? open(c.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (logfd < 0) die("open %s", c.log);
  struct rlimit core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);

  /* Join the cgroups first: everything the sandbox ever forks is counted and frozen with it. */
  char pid[32];
  snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  for (int k = 0; k < c.ncgroups; k++) write_file(c.cgroups[k], pid);
  protect_from_oom_killer(); /* inherited by the sandbox's init and envd */
  if (c.has_cpus && sched_setaffinity(0, sizeof c.cpus, &c.cpus) < 0) die("sched_setaffinity");

  int status[2];
  if (pipe2(status, O_CLOEXEC) < 0) die("pipe");
  pid_t child = (pid_t)syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                                               CLONE_NEWCGROUP | SIGCHLD, NULL, NULL, NULL, NULL);
  if (child < 0) die("clone");
  if (child == 0) {
    close(status[0]);
    status_fd = status[1];
    /* The log becomes the sandbox's stdout and stderr; the caller's pipes stay behind. */
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) die("redirect stdio");
    close(devnull);
    close(logfd);
    _exit(sandbox_init(&c));
  }
  close(status[1]);
  close(logfd);

  char msg[600];
  ssize_t n = read(status[0], msg, sizeof msg - 1);
  if (n == 2 && !memcmp(msg, "OK", 2)) {
    printf("%d\n", (int)child);
    return 0;
  }
  msg[n > 0 ? n : 0] = 0;
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  errno = 0;
  die("%s", n > 0 ? msg : "sandbox set-up failed");
  return 1;
}

static int cmd_resize(int argc, char **argv) {
  const char *pid = NULL, *tmp = NULL, *shm = NULL;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) { errno = 0; die("%s needs a value", a); }
    if (!strcmp(a, "--pid")) pid = argv[++i];
    else if (!strcmp(a, "--tmp-size")) tmp = tmpfs_size(a, argv[++i]);
    else if (!strcmp(a, "--shm-size")) shm = tmpfs_size(a, argv[++i]);
    else { errno = 0; die("unknown option '%s'", a); }
  }
  if (!pid || strspn(pid, "0123456789") != strlen(pid) || !strcmp(pid, "0")) { errno = 0; die("resize needs --pid PID"); }
  char ns[64];
  snprintf(ns, sizeof ns, "/proc/%s/ns/mnt", pid);
  int fd = open(ns, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open %s", ns);
  if (setns(fd, CLONE_NEWNS) < 0) die("setns %s", ns);
  close(fd);
  char opts[64];
  /* A remount replaces the per-mount flags: repeat the ones the mounts were made with. */
  if (tmp) do_mount(NULL, "/tmp", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, (snprintf(opts, sizeof opts, "size=%s", tmp), opts));
  if (shm) do_mount(NULL, "/dev/shm", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, (snprintf(opts, sizeof opts, "size=%s", shm), opts));
  return 0;
}

int main(int argc, char **argv) {
  arg_area = argv;
  arg_count = argc;
  if (argc >= 2 && !strcmp(argv[1], "run")) return cmd_run(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "resize")) return cmd_resize(argc, argv);
  fprintf(stderr, "usage: portal-sandbox-init run --root DIR [options] -- PROGRAM [ARGS]\n"
                  "       portal-sandbox-init resize --pid PID [--tmp-size SIZE] [--shm-size SIZE]\n");
  return 2;
}

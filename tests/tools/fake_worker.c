/*
 * A misbehaving child for tests/unit/test_worker.c and test_proc.c: each
 * mode (argv[1]) is one way a real worker can succeed, fail, crash or
 * hang, or reports what the child was given (environment, descriptors,
 * signal state).
 *
 *   ok TEXT                 TEXT on stdout, exit 0
 *   echo-stdin              stdin copied to stdout, exit 0
 *   exit N                  a line on stderr, exit N
 *   segv                    dies of SIGSEGV
 *   hang                    sleeps until killed
 *   hang-with-child FILE    forks a child in the same group, writes its pid
 *                           to FILE, both sleep
 *   ignore-term             ignores SIGTERM, sleeps (needs SIGKILL)
 *   garbage                 non-JSON on stdout, exit 0
 *   big N                   N bytes on stdout, exit 0
 *   slow-stderr [N]         N (default 200) numbered lines on stderr, exit 0
 *   env NAME...             per NAME, each "NAME=value" line of its
 *                           environment, or "NAME unset"; exit 0
 *   fds                     its open descriptors, "0 1 2\n"; exit 0
 *   sigstate                "blocked=HEX ignored=HEX\n" (/proc/self/status)
 *   grandchild              forks a child in its group, prints the child's
 *                           pid as a line, both sleep
 *   orphan                  the same, but exits 0 after printing
 *   close-stdin             closes stdin, prints "closed", sleeps
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			exit(99);
		}
		buf += w;
		n -= (size_t)w;
	}
}

static void sleep_forever(void)
{
	for (;;)
		pause();
}

static unsigned long parse_ul(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "fake_worker: bad number '%s'\n", s);
		exit(98);
	}
	return v;
}

/* Writes the pid through a temp file and rename, so a reader never sees a
 * half-written number. */
static void write_pid_file(const char *path, pid_t pid)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		exit(97);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%ld\n", (long)pid) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		exit(97);
}

extern char **environ;

/* Forks a child that sleeps in this process group; prints its pid. */
static void fork_grandchild(void)
{
	char line[32];
	pid_t pid = fork();
	int n;

	if (pid < 0)
		exit(95);
	if (pid == 0)
		sleep_forever();
	n = snprintf(line, sizeof(line), "%ld\n", (long)pid);
	write_all(1, line, (size_t)n);
}

static void print_env(int argc, char **argv)
{
	int i;

	for (i = 2; i < argc; i++) {
		size_t len = strlen(argv[i]);
		bool seen = false;
		char **e;

		for (e = environ; *e; e++) {
			if (!strncmp(*e, argv[i], len) && (*e)[len] == '=') {
				printf("%s\n", *e);
				seen = true;
			}
		}
		if (!seen)
			printf("%s unset\n", argv[i]);
	}
}

static void print_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	const char *sep = "";

	if (!d)
		exit(94);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (int)parse_ul(e->d_name) == dirfd(d))
			continue;
		printf("%s%s", sep, e->d_name);
		sep = " ";
	}
	printf("\n");
	closedir(d);
}

static void print_sigstate(void)
{
	char line[256], blk[32] = "?", ign[32] = "?";
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		exit(93);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "SigBlk:", 7))
			sscanf(line + 7, "%31s", blk);
		else if (!strncmp(line, "SigIgn:", 7))
			sscanf(line + 7, "%31s", ign);
	}
	fclose(f);
	printf("blocked=%s ignored=%s\n", blk, ign);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "ok") && argc > 2) {
		write_all(1, argv[2], strlen(argv[2]));
		return 0;
	}
	if (!strcmp(mode, "echo-stdin")) {
		char buf[4096];
		ssize_t n;

		while ((n = read(0, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return 99;
			}
			write_all(1, buf, (size_t)n);
		}
		return 0;
	}
	if (!strcmp(mode, "exit") && argc > 2) {
		unsigned long code = parse_ul(argv[2]);

		fprintf(stderr, "fake_worker: failing with code %lu\n", code);
		return (int)code;
	}
	if (!strcmp(mode, "segv")) {
		/* Sanitizer builds catch SIGSEGV and exit 1; die of the signal. */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		return 96;
	}
	if (!strcmp(mode, "hang"))
		sleep_forever();
	if (!strcmp(mode, "hang-with-child") && argc > 2) {
		pid_t pid = fork();

		if (pid < 0)
			return 95;
		if (pid == 0)
			sleep_forever();
		write_pid_file(argv[2], pid);
		sleep_forever();
	}
	if (!strcmp(mode, "ignore-term")) {
		signal(SIGTERM, SIG_IGN);
		write_all(1, "ready\n", 6);
		sleep_forever();
	}
	if (!strcmp(mode, "garbage")) {
		static const char junk[] = "this is {not json]] \x01\x02\n";

		write_all(1, junk, sizeof(junk) - 1);
		return 0;
	}
	if (!strcmp(mode, "big") && argc > 2) {
		unsigned long n = parse_ul(argv[2]);
		char buf[65536];

		memset(buf, 'x', sizeof(buf));
		while (n > 0) {
			size_t k = n < sizeof(buf) ? n : sizeof(buf);

			write_all(1, buf, k);
			n -= k;
		}
		return 0;
	}
	if (!strcmp(mode, "slow-stderr")) {
		unsigned long i, n = argc > 2 ? parse_ul(argv[2]) : 200;
		struct timespec ts = { 0, 200000 };

		for (i = 1; i <= n; i++) {
			fprintf(stderr, "log line %lu\n", i);
			fflush(stderr);
			nanosleep(&ts, NULL);
		}
		return 0;
	}
	if (!strcmp(mode, "env")) {
		print_env(argc, argv);
		return 0;
	}
	if (!strcmp(mode, "fds")) {
		print_fds(); /* /proc/self/fd lists in ascending order */
		return 0;
	}
	if (!strcmp(mode, "sigstate")) {
		print_sigstate();
		return 0;
	}
	if (!strcmp(mode, "grandchild")) {
		fork_grandchild();
		sleep_forever();
	}
	if (!strcmp(mode, "orphan")) {
		fork_grandchild();
		return 0;
	}
	if (!strcmp(mode, "close-stdin")) {
		close(0);
		write_all(1, "closed\n", 7);
		sleep_forever();
	}
	fprintf(stderr, "usage: fake_worker MODE [ARG]\n");
	return 2;
}

/*
 * Whether llem runs inside a container, and which kind. Engines leave
 * marker files (/.dockerenv, /run/.containerenv); cgroup v1 paths of PID 1
 * name the runtime; systemd-nspawn, LXC and podman also set $container.
 * On cgroup v2 /proc/1/cgroup is just "0::/" inside a container, so the
 * markers come first.
 */
#include "env/env.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

/* cgroup path fragments, most specific first: Kubernetes pods often run
 * on docker or containerd, and their paths contain both names. */
static const struct {
	const char *fragment;
	const char *kind;
} cgroup_kinds[] = {
	{ "kubepods", "kubernetes" },   { "docker", "docker" },
	{ "libpod", "podman" },         { "lxc", "lxc" },
	{ "containerd", "containerd" },
};

static bool marker_exists(const char *root, const char *rel)
{
	char *path = xasprintf("%s%s", root, rel);
	bool found = fs_exists(path);

	free(path);
	return found;
}

char *env_container_kind(const char *root)
{
	struct strbuf base = STRBUF_INIT;
	char *path = NULL, *text = NULL;
	const char *kind = NULL;
	const char *env;

	/* "" and "/" both mean the real root. */
	strbuf_adds(&base, root ? root : "");
	if (base.len > 0 && base.buf[base.len - 1] == '/')
		base.buf[--base.len] = '\0';

	if (marker_exists(strbuf_str(&base), "/.dockerenv")) {
		kind = "docker";
		goto out;
	}
	if (marker_exists(strbuf_str(&base), "/run/.containerenv")) {
		kind = "podman";
		goto out;
	}
	path = xasprintf("%s/proc/1/cgroup", strbuf_str(&base));
	if (fs_read_file(path, &text, NULL) == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(cgroup_kinds) && !kind; i++)
			if (strstr(text, cgroup_kinds[i].fragment))
				kind = cgroup_kinds[i].kind;
		if (kind)
			goto out;
	}
	env = getenv("container");
	if (env && *env)
		kind = env;
out:
	free(text);
	free(path);
	strbuf_release(&base);
	return kind ? xstrdup(kind) : NULL;
}

# inboxd - HTTP long-poll mailbox server
#
#   make            build inboxd
#   make run        build and run it in the foreground on 127.0.0.1:8080
#   make check      build and run every test (BROWSER=0: all but the
#                   browser test)
#   make bench      build and run the benchmarks
#   make sanitize   run every test built with AddressSanitizer and UBSan
#   make memcheck   run the unit tests under valgrind
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS
#   make install    install under $(DESTDIR)$(PREFIX)
#
# Each target sets up what it needs on Debian (the NEEDS_ lists below):
# when make runs as root, apt-get installs the packages that are missing
# (after apt-get update), and make check runs npm ci for the browser
# test's npm packages; otherwise make prints the commands to run and
# stops.  A machine that has everything runs neither apt-get nor npm.
# Build dependencies are then found with pkg-config.

VERSION = 0.1.0
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
# /usr installs keep their configuration in /etc.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Wpedantic -Werror
PKGS = libmicrohttpd libargon2 libcjson gnutls check hiredis libjwt

# The Debian packages each target needs, as probes for need below: a
# PACKAGE alone is there when dpkg says it is installed (on a machine
# without dpkg it is taken to be), COMMAND:PACKAGE when COMMAND is on
# PATH, /FILE:PACKAGE when FILE exists.
NEEDS_build = cc:gcc libc6-dev pkg-config:pkg-config libmicrohttpd-dev \
	libargon2-dev libcjson-dev libgnutls28-dev check libhiredis-dev \
	libjwt-dev
# The tests run redis-server (cluster mode, and the Redis store under the
# unit suites check_store and check_room) and nginx, make a certificate
# (TLS) and keys (check_jwt) with openssl, and the browser test runs
# Chromium under node (with npm's playwright-core) in a network namespace
# of its own (ip, unshare).
# redis-cli is for tests of a Redis Cluster; coturn (turnserver and its
# turnutils clients) for the TURN credentials of GET /ice.  node also runs
# the suites of clients/js, with or without the browser test.
BROWSER ?= 1
CHROMIUM ?= /usr/bin/chromium
NEEDS_check = redis-server:redis-server redis-cli:redis-tools nginx:nginx \
	openssl:openssl turnserver:coturn timeout:coreutils node:nodejs \
	$(if $(filter 0,$(BROWSER)),, \
	$(CHROMIUM):chromium ip:iproute2 unshare:util-linux)
NEEDS_sanitize = clang:clang libclang-rt-14-dev $(NEEDS_check)
NEEDS_memcheck = valgrind:valgrind redis-server:redis-server
# fuzz_store_redis starts a redis-server of its own.
NEEDS_fuzz = clang:clang libclang-rt-14-dev redis-server:redis-server
# The bench also probes with curl, picks free ports with ss and finds
# nginx's worker with pgrep.
NEEDS_bench = wrk:wrk nginx:nginx \
	/usr/lib/nginx/modules/ngx_nchan_module.so:libnginx-mod-nchan \
	curl:curl ss:iproute2 pgrep:procps \
	$(if $(filter 0,$(BENCH_CLUSTER)),,redis-server:redis-server \
	redis-cli:redis-tools)
NEEDS_cluster = redis-server:redis-server
NEEDS_lint-man = mandoc:mandoc
# Folders whose node_modules npm ci makes from their package-lock.json.
NPM_check = $(if $(filter 0,$(BROWSER)),,test/browser)
NPM_sanitize = $(NPM_check)

# $(call need,PROBES,NPM_FOLDERS): install what PROBES find missing with
# apt-get, and run npm ci in each folder whose node_modules is older than
# its package-lock.json (npm itself is a Debian package too, if missing).
# Not as root, or without apt-get: print the commands and fail.
define need
@missing=; npm=; \
for p in $(1); do \
	case $$p in \
	/*:*) [ -e "$${p%:*}" ] ;; \
	*:*) command -v "$${p%:*}" >/dev/null ;; \
	*) ! command -v dpkg-query >/dev/null || [ "$$(dpkg-query -W \
	    -f '$${db:Status-Status}' $$p 2>/dev/null)" = installed ] ;; \
	esac || missing="$$missing $${p##*:}"; \
done; \
for d in $(2); do \
	[ $$d/node_modules/.package-lock.json -nt $$d/package-lock.json ] || \
	    npm="$$npm $$d"; \
done; \
if [ -n "$$npm" ] && ! command -v npm >/dev/null; then \
	missing="$$missing npm"; \
fi; \
if [ -z "$$missing$$npm" ]; then \
	exit 0; \
elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y -q$$missing || exit 1; \
	fi; \
	for d in $$npm; do \
		echo "installing the npm packages of $$d"; \
		(cd $$d && npm ci --no-audit --no-fund) || exit 1; \
	done; \
else \
	echo "missing dependencies; install them with:"; \
	[ -z "$$missing" ] || echo "  apt-get install$$missing"; \
	for d in $$npm; do echo "  (cd $$d && npm ci)"; done; \
	exit 1; \
fi
endef

# need-GOAL: what GOAL needs.
need-%:
	$(call need,$(NEEDS_$*),$(NPM_$*))

# config.mk holds what pkg-config found.  Making it installs what the
# build needs, and what the goals on the command line need, so that a new
# machine runs apt-get once.  It is made again when this file changes (a
# dependency may have come).
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
include config.mk
endif

# -iquote: "jwt.h" is ours, <jwt.h> libjwt's.
CPPFLAGS += -iquote include -D_GNU_SOURCE -DINBOXD_VERSION='"$(VERSION)"' \
	-DINBOXD_CONF='"$(SYSCONFDIR)/inboxd.conf"'
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) $(DEP_CFLAGS) -pthread -MMD -MP
LIBS = $(DEP_LIBS) -lm -pthread

# Build directory: objects, the daemon and tests go under $(B).
B ?= .
OBJ = $(B)/obj
TBIN = $(B)/test/bin
DAEMON = $(B)/inboxd

# Modules without a socket: unit-tested on their own.  redis_slot reads
# hiredis' replies without calling hiredis, but needs its header.
CORE = util timer config json log store store_mem store_mem_room auth metrics addr peer field ice \
	redis_slot jwt
# The daemon's own: HTTP, and the Redis store (the only hiredis user,
# linked into the store's unit suites too: STORE_SUITES).
REDIS = redis_call redis_held redis_cred redis_inbox redis_room redis_sub \
	redis_node redis_reap redis_peer redis_link redis_pipe
SERVER = http api waiter watch $(REDIS)
CORE_OBJS = $(CORE:%=$(OBJ)/%.o)
SERVER_OBJS = $(SERVER:%=$(OBJ)/%.o) $(OBJ)/main.o

UNIT_TESTS = $(patsubst test/unit/%.c,$(TBIN)/%,$(wildcard test/unit/check_*.c))
INTEGRATION_TESTS = $(patsubst test/integration/%.c,$(TBIN)/%, \
	$(wildcard test/integration/check_*.c))
TEST_SUPPORT = $(OBJ)/test/client.o $(OBJ)/test/harness.o

SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = $(patsubst test/fuzz/fuzz_%.c,%,$(wildcard test/fuzz/fuzz_*.c))
VALGRIND = valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=1

all: $(DAEMON)

config.mk: Makefile
	$(call need,$(NEEDS_build) $(foreach g,$(MAKECMDGOALS),$(NEEDS_$(g))),\
	    $(foreach g,$(MAKECMDGOALS),$(NPM_$(g))))
	@pkg-config --exists --print-errors $(PKGS)
	@{ echo "DEP_CFLAGS = $$(pkg-config --cflags libmicrohttpd libargon2 libcjson gnutls libjwt)"; \
	   echo "DEP_LIBS = $$(pkg-config --libs libmicrohttpd libargon2 libcjson gnutls libjwt)"; \
	   echo "CHECK_CFLAGS = $$(pkg-config --cflags check)"; \
	   echo "CHECK_LIBS = $$(pkg-config --libs check)"; \
	   echo "REDIS_CFLAGS = $$(pkg-config --cflags hiredis)"; \
	   echo "REDIS_LIBS = $$(pkg-config --libs hiredis)"; } > $@

$(OBJ)/%.o: src/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(EXTRA_CFLAGS) -c -o $@ $<

# The Redis store's Lua scripts, built in as arrays of C string literals,
# one a line (one literal would pass the 4095 bytes ISO C promises), with
# an enum of their names: lua_NAME[], LUA_NAME and lua_names[LUA_NAME]
# for src/lua/NAME.lua.  redis_link.c makes them one Redis Functions
# library.
LUA_SCRIPTS = $(sort $(wildcard src/lua/*.lua))
LUA_NAMES = $(notdir $(LUA_SCRIPTS:.lua=))

$(OBJ)/gen/lua_scripts.h: $(LUA_SCRIPTS) Makefile
	@mkdir -p $(dir $@)
	@{ echo "/* Made by make from the scripts in src/lua; do not edit. */"; \
	for n in $(LUA_NAMES); do \
		echo "static const char *const lua_$$n[] = {"; \
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
		    -e 's/^/\t"/' -e 's/$$/\\n",/' src/lua/$$n.lua; \
		echo "	NULL"; echo "};"; \
	done; \
	echo "enum lua_script {"; \
	for n in $(LUA_NAMES); do \
		echo "	LUA_$$n," | tr a-z A-Z; \
	done; \
	echo "	LUA_NSCRIPTS"; echo "};"; \
	echo "static const char *const *const lua_sources[] = {"; \
	for n in $(LUA_NAMES); do echo "	lua_$$n,"; done; \
	echo "};"; \
	echo "static const char *const lua_names[] = {"; \
	for n in $(LUA_NAMES); do echo "	\"$$n\","; done; \
	echo "};"; } > $@.tmp
	@mv $@.tmp $@

$(REDIS:%=$(OBJ)/%.o): EXTRA_CFLAGS = $(REDIS_CFLAGS) -I$(OBJ)/gen
$(OBJ)/redis_slot.o: EXTRA_CFLAGS = $(REDIS_CFLAGS)
$(REDIS:%=$(OBJ)/%.o): $(OBJ)/gen/lua_scripts.h

$(OBJ)/test/%.o: test/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itest $(ALL_CFLAGS) $(CHECK_CFLAGS) $(REDIS_CFLAGS) \
	    -c -o $@ $<

$(DAEMON): $(CORE_OBJS) $(SERVER_OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(REDIS_LIBS)

$(TBIN)/check_%: test/unit/check_%.c $(CORE_OBJS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itest $(ALL_CFLAGS) $(CHECK_CFLAGS) $(REDIS_CFLAGS) \
	    $(LDFLAGS) -o $@ $< $(UNIT_OBJS) $(CORE_OBJS) $(LIBS) \
	    $(CHECK_LIBS) $(REDIS_LIBS)

# The store's suites run every case on both stores, the Redis one on a
# redis-server each suite starts for itself (test/backend.c): they link
# the Redis store and the tests' Redis helpers (test/client.c), not the
# daemon.
STORE_SUITES = $(TBIN)/check_store $(TBIN)/check_room
STORE_SUITE_OBJS = $(OBJ)/test/backend.o $(OBJ)/test/client.o \
	$(REDIS:%=$(OBJ)/%.o)
$(STORE_SUITES): $(STORE_SUITE_OBJS)
$(STORE_SUITES): UNIT_OBJS = $(STORE_SUITE_OBJS)

$(TBIN)/check_%: test/integration/check_%.c $(TEST_SUPPORT) $(CORE_OBJS) \
    config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itest $(ALL_CFLAGS) $(CHECK_CFLAGS) $(REDIS_CFLAGS) \
	    $(LDFLAGS) -o $@ $< $(TEST_SUPPORT) $(CORE_OBJS) $(LIBS) \
	    $(CHECK_LIBS) $(REDIS_LIBS)

$(TBIN)/bench_%: test/bench/bench_%.c $(CORE_OBJS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(REDIS_CFLAGS) $(LDFLAGS) -o $@ $< \
	    $(CORE_OBJS) $(LIBS) $(REDIS_LIBS)

# libFuzzer targets build the socket-free modules from source with clang;
# the store targets share their model (test/fuzz/model.c), and
# fuzz_store_redis builds the Redis store too, to drive it on a
# redis-server of its own.
FUZZ_MODEL = test/fuzz/model.c
$(TBIN)/fuzz_store: FUZZ_SRCS = $(FUZZ_MODEL)
$(TBIN)/fuzz_store_redis: FUZZ_SRCS = $(FUZZ_MODEL) $(REDIS:%=src/%.c)
$(TBIN)/fuzz_store_redis: FUZZ_CFLAGS = -I$(OBJ)/gen
$(TBIN)/fuzz_store $(TBIN)/fuzz_store_redis: $(FUZZ_MODEL) test/fuzz/model.h
$(TBIN)/fuzz_store_redis: $(REDIS:%=src/%.c) $(OBJ)/gen/lua_scripts.h

$(TBIN)/fuzz_%: test/fuzz/fuzz_%.c $(CORE:%=src/%.c) config.mk | need-fuzz
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -g -O1 \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $(DEP_CFLAGS) $(REDIS_CFLAGS) -pthread -o $@ $< $(FUZZ_SRCS) \
	    $(CORE:%=src/%.c) $(LIBS) $(REDIS_LIBS)

$(TBIN)/loadgen: test/bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARNINGS) $(CFLAGS) -D_GNU_SOURCE -o $@ $<

# Side by side with Nchan, then both on Redis (inboxd's nodes and Nchan
# in Redis storage mode, each on a redis-server of its own): see
# test/bench/run.sh.  Not part of check.
bench: need-bench $(DAEMON) $(TBIN)/bench_auth $(TBIN)/bench_rooms $(TBIN)/loadgen
	$(TBIN)/bench_auth
	$(TBIN)/bench_rooms
	INBOXD=$(DAEMON) LOADGEN=$(TBIN)/loadgen bash test/bench/run.sh

run: $(DAEMON)
	$(DAEMON) -d -f etc/inboxd.conf

# A local two-node cluster to try cluster mode with: a redis-server of
# its own and two nodes on it, in the foreground until Ctrl-C (see
# examples/cluster.sh).  SHARDS=3 or more: a Redis Cluster of that many
# masters, each with a replica, instead of the one redis-server.
SHARDS ?= 1
cluster: need-cluster $(DAEMON)
	SHARDS=$(SHARDS) bash examples/cluster.sh $(DAEMON)

.PHONY: cluster

# The suites of SPEC sections 2-7 run a second time in cluster mode
# (SPEC section 8): two nodes on a redis-server of their own, which the
# harness starts (test/harness.c), requests alternating between them;
# and a third time on a Redis Cluster of three masters with a replica
# each, one for each suite, emptied for each test, where alice, bob and
# carol each have a master of their own.
CLUSTER_SUITES = $(TBIN)/check_inbox $(TBIN)/check_pin $(TBIN)/check_rooms \
	$(TBIN)/check_reload $(TBIN)/check_jwt \
	$(TBIN)/check_hangup $(TBIN)/check_ack

# The browser test (test/browser) is skipped only when asked for with
# BROWSER=0; when it cannot run (it exits 77), that is a failure.
check: need-check $(DAEMON) $(UNIT_TESTS) $(INTEGRATION_TESTS)
	@failed=0; for t in $(UNIT_TESTS) $(INTEGRATION_TESTS); do \
		echo "== $$t"; \
		INBOXD=$(DAEMON) TESTDATA=test/data ETCDIR=etc $$t || failed=1; \
	done; \
	for t in $(CLUSTER_SUITES); do \
		echo "== $$t, two nodes on one Redis"; \
		INBOXD_CLUSTER=1 INBOXD=$(DAEMON) TESTDATA=test/data ETCDIR=etc \
		    $$t || failed=1; \
	done; \
	for t in $(CLUSTER_SUITES); do \
		echo "== $$t, two nodes on a Redis Cluster of three shards"; \
		INBOXD_CLUSTER=redis-cluster INBOXD=$(DAEMON) TESTDATA=test/data \
		    ETCDIR=etc $$t || failed=1; \
	done; \
	echo "== clients/js"; \
	INBOXD=$(CURDIR)/$(DAEMON) node --test clients/js/test/*.test.js || \
	    failed=1; \
	echo "== test/browser/run.sh"; \
	if [ "$(BROWSER)" = 0 ]; then \
		echo "test/browser: SKIPPED, as asked for with BROWSER=0"; \
	else \
		INBOXD=$(CURDIR)/$(DAEMON) bash test/browser/run.sh; rc=$$?; \
		if [ $$rc = 77 ]; then \
			echo "test/browser: FAIL: it could not run here" \
			    "(make check BROWSER=0 skips it)"; \
		fi; \
		[ $$rc = 0 ] || failed=1; \
	fi; exit $$failed

# Every test again, built with AddressSanitizer and UBSan in build/sanitize;
# any report fails the run (a report ends the process, and the tests check
# every exit status, the daemon's included).
sanitize: need-sanitize
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) B=build/sanitize CC=clang \
	    CFLAGS="-O1 -g $(SANITIZE)" LDFLAGS="$(SANITIZE)" check

# The unit tests under valgrind, unforked so that leaks are seen.
memcheck: need-memcheck $(UNIT_TESTS)
	@failed=0; for t in $(UNIT_TESTS); do \
		echo "== valgrind $$t"; \
		CK_FORK=no ETCDIR=etc $(VALGRIND) $$t || failed=1; \
	done; exit $$failed

fuzz: need-fuzz $(FUZZ_TARGETS:%=$(TBIN)/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
		mkdir -p $(B)/test/corpus/$$t || exit 1; \
		$(TBIN)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		    -print_final_stats=1 $(B)/test/corpus/$$t \
		    test/fuzz/corpus/$$t || exit 1; \
	done

# Where `make install' puts the unit file; systemd also reads
# /usr/local/lib/systemd/system.  The unit gets the paths below written
# into it, and the man pages the configuration file's and the unit's.
UNITDIR ?= $(PREFIX)/lib/systemd/system
UNIT_SED = sed -e 's|@SBINDIR@|$(SBINDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
MAN_SED = sed -e 's|/usr/local/etc/inboxd\.conf|$(SYSCONFDIR)/inboxd.conf|g' \
	-e 's|/usr/local/lib/systemd/system/|$(UNITDIR)/|g'

# An existing configuration file is kept.  The daemon's default
# configuration path is compiled in: a warning says when the binary was
# built for another SYSCONFDIR than the one installed to (the unit passes
# -f, so it works either way).
install: $(DAEMON)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR) \
	    $(DESTDIR)$(UNITDIR)
	install -m 755 $(DAEMON) $(DESTDIR)$(SBINDIR)/inboxd
	$(MAN_SED) man/inboxd.8 > $(DESTDIR)$(MANDIR)/man8/inboxd.8
	$(MAN_SED) man/inboxd.conf.5 > $(DESTDIR)$(MANDIR)/man5/inboxd.conf.5
	chmod 644 $(DESTDIR)$(MANDIR)/man8/inboxd.8 \
	    $(DESTDIR)$(MANDIR)/man5/inboxd.conf.5
	test -e $(DESTDIR)$(SYSCONFDIR)/inboxd.conf || \
	    install -m 644 etc/inboxd.conf $(DESTDIR)$(SYSCONFDIR)/inboxd.conf
	$(UNIT_SED) etc/inboxd.service > $(DESTDIR)$(UNITDIR)/inboxd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/inboxd.service
	@tr '\0' '\n' < $(DAEMON) | grep -qxF '$(SYSCONFDIR)/inboxd.conf' || \
	    echo "warning: $(DAEMON) was built for another SYSCONFDIR; run" \
	    "make clean, then make and make install with the same SYSCONFDIR"

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/inboxd $(DESTDIR)$(MANDIR)/man8/inboxd.8 \
	    $(DESTDIR)$(MANDIR)/man5/inboxd.conf.5 \
	    $(DESTDIR)$(UNITDIR)/inboxd.service

# mandoc's style check of both pages.  The pages refer to each other,
# which mandoc cannot find before they are installed: those notes pass.
lint-man: need-lint-man
	@out=$$(mandoc -Tlint -Wall man/inboxd.8 man/inboxd.conf.5 2>&1 | \
	    grep -v 'STYLE: referenced manual not found: Xr inboxd'); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

.PHONY: lint-man

clean:
	rm -rf obj test/bin test/corpus inboxd build

distclean: clean
	rm -f config.mk

.PHONY: all run check bench sanitize memcheck fuzz install uninstall clean \
	distclean
.SECONDARY:

-include $(wildcard $(OBJ)/*.d $(OBJ)/test/*.d)

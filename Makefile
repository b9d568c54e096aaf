# inboxd - HTTP long-poll mailbox server
#
#   make            build inboxd
#   make run        build and run it in the foreground on 127.0.0.1:8080
#   make check      build and run every test
#   make bench      build and run the benchmarks
#   make install    install under $(DESTDIR)$(PREFIX)
#
# Build dependencies are found with pkg-config.  On Debian, a missing one
# is installed with apt-get when make runs as root; otherwise make prints
# the apt-get line to run and stops.

VERSION = 0.1.0
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(PREFIX)/etc
DESTDIR ?=

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS = -Wall -Wextra -Wpedantic -Werror
PKGS = libmicrohttpd libargon2 libcjson gnutls check
DEBS = pkg-config libmicrohttpd-dev libargon2-dev libcjson-dev \
	libgnutls28-dev check

# config.mk holds what pkg-config found; making it installs what is missing.
ifeq ($(filter clean distclean,$(MAKECMDGOALS)),)
include config.mk
endif

CPPFLAGS += -Iinclude -D_GNU_SOURCE -DINBOXD_VERSION='"$(VERSION)"' \
	-DINBOXD_CONF='"$(SYSCONFDIR)/inboxd.conf"'
ALL_CFLAGS = -std=c11 $(WARNINGS) $(CFLAGS) $(DEP_CFLAGS) -pthread -MMD -MP
LIBS = $(DEP_LIBS) -pthread

# Modules without a socket: unit-tested on their own.
CORE = util timer config json log store auth metrics addr peer field
SERVER = http api waiter
CORE_OBJS = $(CORE:%=obj/%.o)
SERVER_OBJS = $(SERVER:%=obj/%.o) obj/main.o

UNIT_TESTS = $(patsubst test/unit/%.c,test/bin/%,$(wildcard test/unit/check_*.c))
INTEGRATION_TESTS = $(patsubst test/integration/%.c,test/bin/%, \
	$(wildcard test/integration/check_*.c))
TEST_SUPPORT = obj/test/client.o

all: inboxd

config.mk:
	@if ! command -v pkg-config >/dev/null 2>&1 || \
	    ! pkg-config --exists $(PKGS); then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing build dependencies: $(DEBS)"; \
			apt-get update -q && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBS) \
			    || exit 1; \
		else \
			echo "missing build dependencies; install them with:"; \
			echo "  apt-get install $(DEBS)"; \
			exit 1; \
		fi; \
	fi
	@{ echo "DEP_CFLAGS = $$(pkg-config --cflags libmicrohttpd libargon2 libcjson gnutls)"; \
	   echo "DEP_LIBS = $$(pkg-config --libs libmicrohttpd libargon2 libcjson gnutls)"; \
	   echo "CHECK_CFLAGS = $$(pkg-config --cflags check)"; \
	   echo "CHECK_LIBS = $$(pkg-config --libs check)"; } > $@

obj/%.o: src/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

obj/test/%.o: test/%.c config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itest $(ALL_CFLAGS) $(CHECK_CFLAGS) -c -o $@ $<

inboxd: $(CORE_OBJS) $(SERVER_OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

test/bin/check_%: test/unit/check_%.c $(CORE_OBJS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itest $(ALL_CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) \
	    -o $@ $< $(CORE_OBJS) $(LIBS) $(CHECK_LIBS)

test/bin/check_%: test/integration/check_%.c $(TEST_SUPPORT) $(CORE_OBJS) \
    config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itest $(ALL_CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) \
	    -o $@ $< $(TEST_SUPPORT) $(CORE_OBJS) $(LIBS) $(CHECK_LIBS)

test/bin/bench_%: test/bench/bench_%.c $(CORE_OBJS) config.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(CORE_OBJS) $(LIBS)

bench: test/bin/bench_auth
	test/bin/bench_auth

run: inboxd
	./inboxd -d -f etc/inboxd.conf

check: inboxd $(UNIT_TESTS) $(INTEGRATION_TESTS)
	@failed=0; for t in $(UNIT_TESTS) $(INTEGRATION_TESTS); do \
		echo "== $$t"; \
		INBOXD=./inboxd TESTDATA=test/data ETCDIR=etc $$t || failed=1; \
	done; exit $$failed

install: inboxd
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)
	install -m 755 inboxd $(DESTDIR)$(SBINDIR)/inboxd
	install -m 644 man/inboxd.8 $(DESTDIR)$(MANDIR)/man8/inboxd.8
	install -m 644 man/inboxd.conf.5 $(DESTDIR)$(MANDIR)/man5/inboxd.conf.5
	test -e $(DESTDIR)$(SYSCONFDIR)/inboxd.conf || \
	    install -m 644 etc/inboxd.conf $(DESTDIR)$(SYSCONFDIR)/inboxd.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/inboxd $(DESTDIR)$(MANDIR)/man8/inboxd.8 \
	    $(DESTDIR)$(MANDIR)/man5/inboxd.conf.5

clean:
	rm -rf obj test/bin inboxd

distclean: clean
	rm -f config.mk

.PHONY: all run check bench install uninstall clean distclean
.SECONDARY:

-include $(wildcard obj/*.d obj/test/*.d)

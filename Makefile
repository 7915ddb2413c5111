# mod_vhostfcgi - build, test and demo.
#
#   make            build the module and the test tools
#   make demo       a local httpd in front of a FastCGI pool (installs packages)
#   make test       unit tests and the Apache::Test suite (installs packages)
#   make install    install the module (DESTDIR-aware) for a2enmod vhostfcgi
#
# Only Debian 12 packages are used; scripts/install-deps installs what is
# missing and does nothing when everything is there.

APXS      ?= apxs
CC        ?= cc
PROVE     ?= prove
WARN      := -Wall -Wextra -Werror
CFLAGS    ?= -O2 -g
# Extra compiler/linker flags for every C file, e.g. sanitizers.
XCFLAGS   ?=
XLDFLAGS  ?=

# Plain-C parts shared by the module, the spawner, the unit tests and the
# fuzzers: the FastCGI wire format (proto/) and the pools file parser
# (poolsfile/).  Defined before the rules that list them as prerequisites,
# which make expands as it reads them.
PROTO_SRCS := proto/fcgi_proto.c
POOLS_SRCS := $(wildcard poolsfile/*.c)
LIB_SRCS  := $(PROTO_SRCS) $(POOLS_SRCS)
LIB_HDRS  := proto/fcgi_proto.h poolsfile/pools_conf.h poolsfile/internal.h
LIB_INCS  := -Iproto -Ipoolsfile

# The module (module/): glue, script check and routing, pools and their
# connections, mod_proxy handler, request body, CGI environment, one
# FastCGI exchange, response headers; linked with the two parts above.
MOD_SRCS  := $(addprefix module/,mod_vhostfcgi.c vf_check.c vf_serve.c \
             vf_admit.c vf_gauge.c vf_pool.c vf_conn.c vf_spawner.c \
             vf_health.c vf_status.c vf_proxy.c vf_body.c vf_env.c \
             vf_exchange.c vf_members.c \
             vf_response.c) $(LIB_SRCS)
MOD_HDRS  := module/mod_vhostfcgi.h $(LIB_HDRS)
MOD_SO    := .libs/mod_vhostfcgi.so

# The pool spawner daemon.
SPAWN_SRCS := $(wildcard spawner/*.c)
SPAWN_HDRS := $(wildcard spawner/*.h)
SPAWN_BIN  := build/vhostfcgi-spawn

UNIT_SRCS := $(wildcard t/unit/*_test.c)
UNIT_BINS := $(patsubst t/unit/%.c,build/unit/%,$(UNIT_SRCS))
TOOL_BINS := build/bin/fcgi-misbehave

APXS_WFLAGS := $(foreach f,$(WARN) $(XCFLAGS),-Wc,$(f)) \
               $(foreach f,$(XLDFLAGS),-Wl,$(f))

.PHONY: all module tools spawner deps test unit-test spawner-test itest \
        itest-prefork balance-test \
        fuzz test-asan soak demo bench install clean

all: module tools $(if $(SPAWN_SRCS),spawner)

module: $(MOD_SO)

$(MOD_SO): $(MOD_SRCS) $(MOD_HDRS)
	$(APXS) -c $(APXS_WFLAGS) $(LIB_INCS) -o mod_vhostfcgi.la $(MOD_SRCS)

tools: $(TOOL_BINS)

spawner: $(SPAWN_BIN)

$(SPAWN_BIN): $(SPAWN_SRCS) $(SPAWN_HDRS) $(LIB_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(XCFLAGS) $(LIB_INCS) -o $@ $(SPAWN_SRCS) \
	      $(LIB_SRCS) $(XLDFLAGS)

build/bin/%: t/bin/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(XCFLAGS) -o $@ $< $(XLDFLAGS)

build/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(XCFLAGS) -o $@ $< $(XLDFLAGS)

build/unit/%: t/unit/%.c $(LIB_SRCS) $(LIB_HDRS) t/unit/tap.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(XCFLAGS) $(UNIT_FLAGS) $(LIB_INCS) -o $@ $< \
	      $(LIB_SRCS) $(XLDFLAGS)

# The parser with every allocation made to fail in turn: 16-byte arena
# chunks (each allocation a malloc of its own) and the allocator wrapped.
build/unit/pools_oom_test: UNIT_FLAGS := -DPOOLS_ARENA_FIRST=16 \
    -DPOOLS_ARENA_MAX=16 -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

deps:
	@scripts/install-deps

unit-test: $(UNIT_BINS)
	$(PROVE) $(UNIT_BINS)

# The spawner's own tests: real php-cgi workers, TAP scripts under prove
# (with the one that needs 41 s of a request outliving the stop grace).
spawner-test: spawner module
	VF_SLOW_TESTS=1 $(PROVE) t/spawner

# The Apache::Test suite: real httpd with the built module, real php-fpm.
itest: all
	scripts/run-itest

# The same httpd on mpm_prefork (where mod_php sites come from): the script
# check, routing, path info, recycles, faults and a dead child's counts
# given back must hold with one request per process too.  (Reuse counts are per process there; those tests skip.)
PREFORK_TESTS := t/pools/01-evil-gif.t t/pools/02-missing.t \
                 t/pools/03-dirindex.t t/pools/04-pathinfo.t \
                 t/pools/14-routing-guards.t t/reuse/01-reuse-counts.t \
                 t/reuse/02-max-requests.t \
                 t/reuse/08-no-replay.t t/reuse/10-post-recycle.t \
                 t/reuse/13-dead-child.t t/proxy/faults.t
itest-prefork: all
	VF_MPM=prefork scripts/run-itest $(PREFORK_TESTS)

test: deps
	$(MAKE) all
	$(MAKE) unit-test
	$(if $(SPAWN_SRCS),$(MAKE) spawner-test)
	$(MAKE) itest
	$(MAKE) itest-prefork
	$(MAKE) balance-test
	$(PROVE) t/clientfault
	$(MAKE) fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)

# Balancing and failover: php-fpm "hosts" in network namespaces (root).
balance-test: module
	$(PROVE) t/balance

# make test's short fuzzing pass per target; `make fuzz` runs longer.
CI_FUZZ_SECONDS ?= 30

# libFuzzer targets for the two parsers that read untrusted bytes: each runs
# FUZZ_SECONDS on a copy of its seed corpus (the seeds stay as committed).
FUZZ_SECONDS ?= 60
FUZZERS   := build/fuzz/fcgi_proto_fuzz build/fuzz/pools_conf_fuzz
FUZZ_CC   ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all $(LIB_INCS)

build/fuzz/fcgi_proto_fuzz: fuzz/fcgi_proto_fuzz.c $(PROTO_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/fcgi_proto_fuzz.c $(PROTO_SRCS)

build/fuzz/pools_conf_fuzz: fuzz/pools_conf_fuzz.c $(POOLS_SRCS) $(LIB_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/pools_conf_fuzz.c $(POOLS_SRCS)

fuzz: $(FUZZERS)
	scripts/run-fuzz $(FUZZ_SECONDS) \
	    build/fuzz/fcgi_proto_fuzz:fuzz/corpus \
	    build/fuzz/pools_conf_fuzz:fuzz/pools_corpus

# The whole suite with the module, the spawner and the tools built with
# AddressSanitizer and UBSan; any sanitizer report fails the run.  The
# module is built in build/asan/, leaving the normal build alone.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer
ASAN_SO   := build/asan/.libs/mod_vhostfcgi.so

$(ASAN_SO): $(MOD_SRCS) $(MOD_HDRS)
	@mkdir -p build/asan
	cp --parents $(MOD_SRCS) $(MOD_HDRS) build/asan/
	cd build/asan && $(APXS) -c $(foreach f,$(WARN) $(SAN_FLAGS),-Wc,$(f)) \
	    $(foreach f,$(SAN_FLAGS),-Wl,$(f)) $(LIB_INCS) \
	    -o mod_vhostfcgi.la $(MOD_SRCS)

test-asan: deps $(ASAN_SO)
	rm -rf build/unit build/bin $(SPAWN_BIN)
	# The plain module, built first and fresh, for the spawner tests that
	# start a stock httpd (the sanitized one needs run-sanitized's preload):
	# the sanitized make below then finds it up to date.
	$(MAKE) -B module
	$(MAKE) tools unit-test $(if $(SPAWN_SRCS),spawner-test) \
	    XCFLAGS="$(SAN_FLAGS)" XLDFLAGS="$(SAN_FLAGS)"
	scripts/run-sanitized $(CURDIR)/$(ASAN_SO)
	rm -rf build/unit build/bin $(SPAWN_BIN)

# Bounded (at most 5 minutes): mixed load on two spawner pools while
# workers are killed and the spawner reloads; checks failures and memory.
soak: deps all
	scripts/soak

# A report, not a test: throughput against stock mod_proxy_fcgi and nginx.
bench: deps all
	bench/run

demo: deps
	$(MAKE) module spawner
	scripts/demo

# Debian layout: a2enmod vhostfcgi finds vhostfcgi.load/.conf here.
LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)
SYSCONFDIR := $(shell $(APXS) -q SYSCONFDIR 2>/dev/null)

install: $(MOD_SO) $(SPAWN_BIN)
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR)/mods-available \
	        $(DESTDIR)/usr/sbin $(DESTDIR)/lib/systemd/system
	install -m 644 $(MOD_SO) $(DESTDIR)$(LIBEXECDIR)/mod_vhostfcgi.so
	install -m 644 conf/vhostfcgi.load conf/vhostfcgi.conf \
	        $(DESTDIR)$(SYSCONFDIR)/mods-available/
	install -m 755 $(SPAWN_BIN) $(DESTDIR)/usr/sbin/vhostfcgi-spawn
	install -m 644 conf/vhostfcgi-spawn.service $(DESTDIR)/lib/systemd/system/
	install -d $(DESTDIR)/usr/share/doc/mod-vhostfcgi/examples
	install -m 644 README.md $(DESTDIR)/usr/share/doc/mod-vhostfcgi/
	install -m 644 conf/pools.conf conf/vhosts.conf \
	        $(DESTDIR)/usr/share/doc/mod-vhostfcgi/examples/

clean:
	rm -rf .libs build *.la $(foreach d,module proto poolsfile,$(d)/.libs \
	       $(d)/*.o $(d)/*.lo $(d)/*.slo)
	rm -rf t/logs t/TEST t/conf/apache_test_config.pm t/conf/httpd.conf \
	       t/conf/extra.conf t/.stage

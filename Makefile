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

# The module: glue, mod_proxy handler, request body, CGI environment, one
# FastCGI exchange, response headers, and the wire format.
MOD_SRCS  := mod_vhostfcgi.c vf_proxy.c vf_body.c vf_env.c vf_exchange.c \
             vf_response.c fcgi_proto.c
MOD_HDRS  := mod_vhostfcgi.h fcgi_proto.h
MOD_SO    := .libs/mod_vhostfcgi.so

UNIT_SRCS := $(wildcard t/unit/*_test.c)
UNIT_BINS := $(patsubst t/unit/%.c,build/unit/%,$(UNIT_SRCS))
TOOL_BINS := build/bin/fcgi-misbehave

APXS_WFLAGS := $(foreach f,$(WARN) $(XCFLAGS),-Wc,$(f)) \
               $(foreach f,$(XLDFLAGS),-Wl,$(f))

.PHONY: all module tools deps test unit-test itest demo install clean

all: module tools

module: $(MOD_SO)

$(MOD_SO): $(MOD_SRCS) $(MOD_HDRS)
	$(APXS) -c $(APXS_WFLAGS) -o mod_vhostfcgi.la $(MOD_SRCS)

tools: $(TOOL_BINS)

build/bin/%: t/bin/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(XCFLAGS) -o $@ $< $(XLDFLAGS)

build/unit/%: t/unit/%.c fcgi_proto.c fcgi_proto.h t/unit/tap.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(XCFLAGS) -I. -o $@ $< fcgi_proto.c $(XLDFLAGS)

deps:
	@scripts/install-deps

unit-test: $(UNIT_BINS)
	$(PROVE) $(UNIT_BINS)

# The Apache::Test suite: real httpd with the built module, real php-fpm.
itest: all
	scripts/run-itest

test: deps
	$(MAKE) all
	$(MAKE) unit-test
	$(MAKE) itest

demo: deps
	$(MAKE) module
	scripts/demo

# Debian layout: a2enmod vhostfcgi finds vhostfcgi.load/.conf here.
LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)
SYSCONFDIR := $(shell $(APXS) -q SYSCONFDIR 2>/dev/null)

install: $(MOD_SO)
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SYSCONFDIR)/mods-available
	install -m 644 $(MOD_SO) $(DESTDIR)$(LIBEXECDIR)/mod_vhostfcgi.so
	install -m 644 conf/vhostfcgi.load conf/vhostfcgi.conf \
	        $(DESTDIR)$(SYSCONFDIR)/mods-available/

clean:
	rm -rf .libs build *.o *.lo *.slo *.la
	rm -rf t/logs t/TEST t/conf/apache_test_config.pm t/conf/httpd.conf \
	       t/conf/extra.conf t/.stage

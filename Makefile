# Makefile: the quick start. Wraps meson/ninja: `make deps build demo check`.
# Builds live in build/ (gcc), build-clang/, build-asan/ and build-fuzz/; the
# real work is in meson.build files, tests/run-fuzz.sh and tests/summarize.py.

SHELL := /bin/bash
.DEFAULT_GOAL := build

JOBS ?= 2
# Seconds each fuzz target runs in `make check` / `make fuzz` (JOBS of them at once).
FUZZ_SECONDS ?= 20
MESON ?= meson
NINJA ?= ninja

# Debian 12 packages the build and the tests use.
DEPS := build-essential meson ninja-build pkg-config clang libclang-rt-dev dpkg-dev debhelper lintian \
        libc-ares-dev libuv1-dev libssl-dev libsqlite3-dev libpsl-dev libyaml-dev python3 python3-yaml python3-spf unbound \
        iproute2 util-linux postfix swaks \
        python3-dkim python3-nacl opendkim-tools opendkim \
        libmail-srs-perl python3-srs postsrsd spf-tools-perl opendmarc miltertest
# The PostgreSQL store (issue 15): libpq to build it, the server for its tests.
DEPS += libpq-dev postgresql
# domauth-web (issue 14): HTTP and Argon2id, and headless Chromium for its browser test.
DEPS += libmicrohttpd-dev libargon2-dev chromium chromium-driver python3-selenium
# DMARC aggregate reports: gzip (zlib), and xmllint for the report tests.
DEPS += zlib1g-dev libxml2-utils

# Debian packages only `make bench` needs (so `make check` does not grow):
# the peers (libspf2, pyspf over dnspython, postfix-policyd-spf-python, which
# socat serves on TCP), the DNS server and its control tool, and what sets up
# the network namespace and CPU pinning.
BENCH_DEPS := libspf2-dev python3-spf python3-dnspython unbound iproute2 util-linux \
              postfix-policyd-spf-python socat spfquery
# The DKIM benchmark (bench/dkim) also builds against libopendkim; its other
# peers (python3-dkim, python3-nacl) are in DEPS already.
BENCH_DEPS += libopendkim-dev
# The milter scenario (bench/milter): a private Postfix (smtp-source comes
# with it) and the usual stack it is set against (OpenDKIM, OpenDMARC,
# postfix-policyd-spf-python).
BENCH_DEPS += postfix opendkim opendmarc postfix-policyd-spf-python

# Not root: use sudo when there is one.
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && echo sudo)
, := ,

SAN_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 \
           UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

CHECK_DIR := build-check
STEPS := $(CHECK_DIR)/failed-steps

DEMO := ./build/cli/domauth spf check --zone examples/demo.zone

.PHONY: all deps build demo demo-web check bench bench-deps clean fuzz check-build check-clang check-asan \
        check-integration check-fuzz install deb

all: build

deps:
	@missing=""; \
	for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
	    echo "deps: all Debian packages present"; \
	else \
	    echo "deps: installing$$missing"; \
	    echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections; \
	    $(SUDO) apt-get update -q && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing </dev/null; \
	fi

# Files whose appearance changes what meson configures (tests/meson.build and
# tests/fuzz/meson.build look for them with fs.exists, which ninja does not
# watch): when one is newer than a tree's build.ninja, that tree reconfigures.
OPTIONAL_FILES = $(wildcard tests/integration/*.sh tests/e2e/*.sh tests/daemon/*.sh tests/fuzz/*.c \
                            tests/unit/*.c tests/unit/*/*.c)

# $(call setup,DIR,ENV,ARGS): configure DIR once (again when an optional file
# appeared); otherwise ninja reconfigures by itself when a meson.build changes.
define setup
	@if [ ! -f $(1)/build.ninja ]; then \
	    echo "== meson setup $(1)"; \
	    $(2) $(MESON) setup $(1) $(3) >$(1).setup.log 2>&1 \
	        || $(2) $(MESON) setup --wipe $(1) $(3) >$(1).setup.log 2>&1 \
	        || { cat $(1).setup.log; rm -f $(1).setup.log; exit 1; }; \
	    rm -f $(1).setup.log; \
	else \
	    for f in $(OPTIONAL_FILES); do \
	        if [ "$$f" -nt $(1)/build.ninja ]; then \
	            echo "== meson setup --reconfigure $(1) ($$f changed)"; \
	            $(MESON) setup --reconfigure $(1) >/dev/null || exit 1; \
	            break; \
	        fi; \
	    done; \
	fi
endef

build:
	$(call setup,build,CC=gcc,)
	$(NINJA) -C build -j$(JOBS)

# install: the programs (PREFIX/sbin/domauthd, PREFIX/bin/domauth), the man
# pages, the systemd unit (/lib/systemd/system with PREFIX=/usr, else
# PREFIX/lib/systemd/system), the tmpfiles.d and sysusers.d entries
# (PREFIX/lib/...), the sample configuration in PREFIX/share/doc/domauth/
# examples and, only when absent, /etc/domauth/domauth.conf (under any
# PREFIX: domauthd reads that path). PREFIX defaults to /usr here (meson's
# own default is /usr/local); DESTDIR stages it. The build tree's prefix is
# set to PREFIX (no recompilation: nothing compiled depends on it).
PREFIX ?= /usr
build-prefix = $$($(MESON) introspect --buildoptions build | \
    python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')
install: build
	@if [ "$(build-prefix)" != "$(PREFIX)" ]; then \
	    echo "== meson configure build -Dprefix=$(PREFIX)"; \
	    $(MESON) configure build -Dprefix=$(PREFIX) >/dev/null && $(NINJA) -C build -j$(JOBS) >/dev/null \
	        || exit 1; \
	fi
	$(MESON) install -C build --no-rebuild --tags runtime,man,doc $(if $(DESTDIR),--destdir $(abspath $(DESTDIR)))
	@if [ -z "$(DESTDIR)" ]; then \
	    echo; echo "Next (as root): systemd-sysusers domauth.conf; systemd-tmpfiles --create domauth.conf;"; \
	    echo "systemctl daemon-reload; systemctl enable --now domauthd (see README.md, With Postfix)"; \
	fi

# deb: the Debian package, built by dpkg-buildpackage (debian/) in a copy of
# the source tree (the files git tracks or would track) under $(DEB_DIR), so
# that the tree stays clean; the .deb files land in $(DEB_DIR), and lintian
# (when installed) prints what it finds: an error fails the target.
DEB_DIR ?= build-deb
deb:
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null \
	    || { echo "deb: needs dpkg-dev and debhelper (apt-get install dpkg-dev debhelper)"; exit 1; }
	@rm -rf $(DEB_DIR); mkdir -p $(DEB_DIR)/src
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard | \
	        while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done | \
	        tar --null -T - -cf - | tar -xf - -C $(DEB_DIR)/src; \
	else \
	    tar --exclude='./build*' --exclude=./.fuzz-corpus -cf - . | tar -xf - -C $(DEB_DIR)/src; \
	fi
	@echo "== dpkg-buildpackage in $(DEB_DIR)/src"
	@cd $(DEB_DIR)/src && DEB_BUILD_OPTIONS="parallel=$(JOBS) $${DEB_BUILD_OPTIONS:-}" \
	    dpkg-buildpackage -b -us -uc >../build.log 2>&1 \
	    || { tail -40 ../build.log; echo "deb: dpkg-buildpackage failed (see $(DEB_DIR)/build.log)"; exit 1; }
	@ls $(DEB_DIR)/*.deb
	@if command -v lintian >/dev/null; then \
	    echo "== lintian"; \
	    lintian --info --display-info $(DEB_DIR)/*.changes | tee $(DEB_DIR)/lintian.log; \
	    ! grep -q '^E:' $(DEB_DIR)/lintian.log || { echo "deb: lintian found errors"; exit 1; }; \
	fi

demo: deps build
	@echo; echo "== pass: 192.0.2.10 is example.com's MX host"
	@$(DEMO) --ip 192.0.2.10 --mail-from alice@example.com --helo mail.example.com; \
	    echo "(exit status $$?)"
	@echo; echo "== softfail: 203.0.113.66 is not listed for example.com (~all)"
	@$(DEMO) --ip 203.0.113.66 --mail-from alice@example.com --helo mail.example.com; \
	    echo "(exit status $$?)"
	@echo; echo "== fail: 203.0.113.66 is not listed for strict.example.org (-all)"
	@$(DEMO) --ip 203.0.113.66 --mail-from bob@strict.example.org --helo mx.strict.example.org; \
	    echo "(exit status $$?)"
	@echo; echo "== fail with the domain's own explanation (exp=)"
	@$(DEMO) --ip 203.0.113.99 --mail-from carol@explained.example.org --helo mx.explained.example.org; \
	    echo "(exit status $$?)"
	@echo; echo "== permerror: a record that does not parse"
	@$(DEMO) --ip 192.0.2.10 --mail-from dave@broken.example.net --helo mail.example.com; \
	    echo "(exit status $$?)"
	@echo; echo "== a whole message as domauthd checks it (built-in defaults: monitor mode)"
	@./build/cli/domauth verify --zone examples/demo.zone --ip 203.0.113.99 \
	    --helo mx.explained.example.org --mail-from carol@explained.example.org \
	    --rcpt dave@example.com examples/demo.eml; echo "(exit status $$?)"
	@echo; echo "== the web console on demo data: make demo-web (then http://127.0.0.1:8896/, demo/demo)"

# demo-web: domauthd and domauth-web on a demo store in build/demo-web (20,000
# events, a quarantined message, user demo / password demo), in the
# foreground until Ctrl-C (examples/demo-web.sh; DEMO_WEB_PORT=N moves it).
demo-web: deps build
	@examples/demo-web.sh

# check: every step runs even when an earlier one failed; failed steps are
# listed in $(STEPS) and counted by the summary, whose last line is
# "N passed, N failed[, N skipped]". Exits non-zero when anything failed.
check: deps
	@rm -rf $(CHECK_DIR); mkdir -p $(CHECK_DIR); date +%s >$(CHECK_DIR)/start
	@for step in build:check-build build-clang:check-clang build-asan:check-asan \
	             build:check-integration fuzz:check-fuzz; do \
	    $(MAKE) --no-print-directory $${step#*:} \
	        || echo "$${step%%:*}: make $${step#*:} failed (see its output above)" >>$(STEPS); \
	done
	@start=$$(cat $(CHECK_DIR)/start); \
	python3 tests/summarize.py --tree build --tree build-asan \
	    --fuzz $(CHECK_DIR)/fuzz.tap --steps $(STEPS) --elapsed $$(( $$(date +%s) - start ))

# The steps of check; each fails only when something could not be built
# (test failures are counted from the TAP output instead).
check-build:
	@echo "== build (gcc)"
	@$(MAKE) --no-print-directory build
	@rm -f build/meson-logs/testlog.json build/meson-logs/integration.json
	@echo "== meson test (build, without the integration and e2e suites)"
	@$(MESON) test -C build --no-rebuild --num-processes $(JOBS) --no-suite integration --no-suite e2e \
	    --no-suite package || true

# After check-asan, so the integration tests also run the fresh ASan binary.
check-integration:
	@echo "== meson test (build, integration, e2e and package suites: real DNS servers and Postfix in"
	@echo "   namespaces; the Debian package built, installed, run and purged)"
	@DOMAUTH_PACKAGE_TEST=1 JOBS=$(JOBS) $(MESON) test -C build --no-rebuild --suite integration --suite e2e \
	    --suite package --logbase integration || true

check-clang:
	@echo "== build-clang (clang -Werror)"
	$(call setup,build-clang,CC=clang,)
	@$(NINJA) -C build-clang -j$(JOBS)

check-asan:
	@echo "== build-asan (clang, address + undefined sanitizers)"
	$(call setup,build-asan,CC=clang,-Db_sanitize=address$(,)undefined -Db_lundef=false \
	    -Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all)
	@$(NINJA) -C build-asan -j$(JOBS)
	@rm -f build-asan/meson-logs/testlog.json
	@echo "== meson test (build-asan, without the integration and e2e suites)"
	@$(SAN_ENV) $(MESON) test -C build-asan --no-rebuild --num-processes $(JOBS) \
	    --no-suite integration --no-suite e2e --no-suite package || true

check-fuzz:
	@echo "== build-fuzz (clang, libFuzzer) and $(FUZZ_SECONDS) s per target"
	$(call setup,build-fuzz,CC=clang,-Dfuzz=true -Dtests=false \
	    -Db_sanitize=address$(,)undefined -Db_lundef=false \
	    "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all")
	@$(NINJA) -C build-fuzz -j$(JOBS)
	@mkdir -p $(CHECK_DIR)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) tests/run-fuzz.sh build-fuzz | tee $(CHECK_DIR)/fuzz.tap

fuzz:
	$(call setup,build-fuzz,CC=clang,-Dfuzz=true -Dtests=false \
	    -Db_sanitize=address$(,)undefined -Db_lundef=false \
	    "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all")
	$(NINJA) -C build-fuzz -j$(JOBS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) tests/run-fuzz.sh build-fuzz

# bench: domauth against libspf2 and pyspf over a generated SPF world served
# by unbound in a private network namespace, and domauthd's policy listener
# against policyd-spf on the same world (bench/README.md). Needs root;
# BENCH_* variables in the environment resize it (see bench/run.sh).
bench: deps bench-deps build
	$(SUDO) bench/run.sh

bench-deps:
	@missing=""; \
	for p in $(BENCH_DEPS); do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
	    echo "bench-deps: all Debian packages present"; \
	else \
	    echo "bench-deps: installing$$missing"; \
	    echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections; \
	    $(SUDO) apt-get update -q && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing </dev/null; \
	fi

clean:
	rm -rf build build-clang build-asan build-fuzz build-deb $(CHECK_DIR) .fuzz-corpus

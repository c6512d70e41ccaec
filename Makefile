# Developer tasks. `make dev` builds and installs everything and proves _core imports;
# `make test` is README's test command; `make asan` runs the C core's tests under
# AddressSanitizer + UndefinedBehaviorSanitizer (a separate build in build/asan).
PY ?= python3
ASAN_RT = $(shell gcc -print-file-name=libasan.so) $(shell gcc -print-file-name=libubsan.so)

.PHONY: dev test asan lint bench tables

dev:
	$(PY) -m pip install -e '.[test]'
	$(PY) -c "import sysphase._core; print('sysphase._core OK')"

test:
	$(PY) -m pytest

asan:
	rm -rf build/asan && mkdir -p build/asan
	cp -r src csrc setup.py pyproject.toml README.md build/asan/
	rm -f build/asan/src/sysphase/*.so
	cd build/asan && SYSPHASE_SANITIZE=1 $(PY) setup.py -q build_ext --inplace
	# reports go to build/asan/report.PID too: pytest's fd capture dies with an abort
	LD_PRELOAD="$(ASAN_RT)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(CURDIR)/build/asan/report \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(CURDIR)/build/asan/report \
	PYTHONPATH=$(CURDIR)/build/asan/src SYSPHASE_EXPECT_SANITIZED=1 \
	$(PY) -m pytest -p no:cacheprovider -q tests/trace \
	|| { cat build/asan/report.* 2>/dev/null | head -60; exit 1; }

lint:
	ruff check .
	ruff format --check .
	mypy
	clang-format --dry-run --Werror csrc/*.c csrc/*.h src/sysphase/guard/*.c src/sysphase/guard/*.h src/sysphase/bpf/*.c tests/fixtures/*.c

bench:
	$(PY) -m sysphase.bench

tables:
	$(PY) tools/gen_syscall_tables.py
	$(PY) tools/gen_xlat.py

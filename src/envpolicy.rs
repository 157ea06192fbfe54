//! Which variables a stage file may not set for `exec`.
//!
//! A stage file's empty values are not covered by its MAC, and anyone who can push can edit
//! it; a build, unlike a Lambda function, runs compilers, package managers, git and shells
//! that take orders from their environment. So `exec` refuses every variable that makes a
//! program load code, run a command, trace, or read configuration or trust from elsewhere,
//! unless the user passes `--allow NAME`. `render` does not use this table: a Lambda
//! environment is not a build (Lambda's own reserved names are in [`crate::envname`]).
//!
//! Every comparison is made on the ASCII-uppercased name, so each pattern is
//! case-insensitive: npm, Yarn and curl really read mixed case (`Npm_Config_Script_Shell`
//! runs the shell), and for the other tools it costs nothing. A denylist cannot be
//! complete; each family below names the documentation it was taken from.
//!
//! So that the next tool's name is caught before anyone lists it, several families hold
//! suffixes for the shapes such names take: `*_OPTIONS`, `*_OPTS` and `*_ARGS` (flags, e.g.
//! `TAR_OPTIONS=--checkpoint-action=exec=CMD`), `*_RSH`, `*_SSH`, `*_PROG`, `*_PROGRAM`,
//! `*_COMMAND` and `*_CMD` (programs), `*_BINARY`, `*_BINARY_PATH`, `*_BIN` and `*_EXECUTABLE`
//! (native binaries), `*_CONFIG` and `*_PROFILE` (configuration files), `*_LIBRARY_PATH`,
//! `*_LOAD_PATH`, `*_PLUGIN_PATH` and `*_PLUGINS` (library paths) and `*_HOME` (toolchain
//! homes). They also catch app settings of the same shape (`DB_CONFIG`, `APP_OPTIONS`,
//! `WORKER_ARGS`): `exec` fails closed, and `--allow NAME` passes such a name. `ALLOW`
//! lists the few documented harmless ones.
//!
//! Families are checked in order and the first match names the reason, so a tool's own
//! exact names come before a suffix family that also catches them (`NODE_OPTIONS` is
//! reported as Node.js, not as command-line options). No rule may be hidden by an earlier or
//! broader one in the same family: a test checks that each rule lives in one place.

/// How a pattern matches an (uppercased) name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
    /// Starts with the first and ends with the second, with something in between.
    PrefixSuffix(&'static str, &'static str),
    /// Bundler's per-host credential, `BUNDLE_<HOST>` with each `.` written `__`
    /// (`BUNDLE_GEMS__EXAMPLE__COM`), but not its settings of the same shape.
    BundlerHost,
}
use Pattern::{Exact as E, Prefix as P, PrefixSuffix as PS, Suffix as S};

/// Bundler settings written `BUNDLE_<SETTING>__<NAME>`: `local.<gem>` points a gem at a local
/// checkout and `build.<gem>` passes compiler flags, so they stay refused.
const BUNDLER_KEYED_SETTINGS: &[&str] = &["LOCAL", "BUILD", "MIRROR", "GEM"];

impl Pattern {
    /// `upper` must already be ASCII-uppercased.
    fn matches(self, upper: &str) -> bool {
        match self {
            E(p) => upper == p,
            P(p) => upper.starts_with(p),
            S(p) => upper.ends_with(p),
            PS(p, s) => {
                upper.len() > p.len() + s.len() && upper.starts_with(p) && upper.ends_with(s)
            }
            Pattern::BundlerHost => upper
                .strip_prefix("BUNDLE_")
                .and_then(|host| host.split_once("__"))
                .is_some_and(|(first, rest)| {
                    !first.is_empty()
                        && !rest.is_empty()
                        && !BUNDLER_KEYED_SETTINGS.contains(&first)
                }),
        }
    }
}

/// One family of variables: what reads them, what they do, and where that is documented.
#[derive(Debug)]
pub struct Family {
    /// Who reads them, e.g. "git".
    pub name: &'static str,
    /// What a stage file could do with them.
    pub effect: &'static str,
    /// The documentation the names come from.
    pub source: &'static str,
    pub patterns: &'static [Pattern],
}

/// A name that is not `[A-Za-z_][A-Za-z0-9_]*`, e.g. bash's exported function
/// `BASH_FUNC_name%%`, which bash runs as code.
pub const MALFORMED: Family = Family {
    name: "malformed name",
    effect: "not a plain variable name; bash reads `BASH_FUNC_name%%` as a function",
    source: "https://www.gnu.org/software/bash/manual/bash.html#Shell-Functions",
    patterns: &[],
};

/// The refused families, most common first.
pub const DENY: &[Family] = &[
    Family {
        name: "program search",
        effect: "chooses which program runs",
        source: "https://man7.org/linux/man-pages/man7/environ.7.html",
        patterns: &[E("PATH")],
    },
    Family {
        name: "dynamic loader",
        effect: "loads libraries into every program, or writes traces",
        source: "https://man7.org/linux/man-pages/man8/ld.so.8.html; \
                 https://wiki.musl-libc.org/environment-variables; \
                 https://opensource.apple.com/source/dyld/ (dyld(1))",
        // LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, LD_DEBUG_OUTPUT...; DYLD_INSERT_LIBRARIES...
        patterns: &[P("LD_"), P("DYLD_"), E("MUSL_LOCPATH")],
    },
    Family {
        name: "C library",
        effect: "loads modules, reads message catalogs and resolver settings from elsewhere",
        // ld.so(8) "secure-execution mode" list, minus TZ (data, not code).
        source: "https://man7.org/linux/man-pages/man8/ld.so.8.html",
        patterns: &[
            // Tunables change malloc and the loader; a parsing bug was CVE-2023-4911.
            E("GLIBC_TUNABLES"),
            E("GCONV_PATH"),
            E("GETCONF_DIR"),
            E("HOSTALIASES"),
            E("LOCALDOMAIN"),
            E("LOCPATH"),
            E("MALLOC_TRACE"),
            E("NIS_PATH"),
            E("NLSPATH"),
            E("RESOLV_HOST_CONF"),
            E("RES_OPTIONS"),
            E("TMPDIR"),
            E("TZDIR"),
        ],
    },
    Family {
        name: "shell",
        effect: "runs startup code or traces commands",
        source: "https://www.gnu.org/software/bash/manual/bash.html#Bash-Startup-Files; \
                 https://man7.org/linux/man-pages/man1/dash.1.html; \
                 https://zsh.sourceforge.io/Doc/Release/Files.html",
        patterns: &[
            // BASH_ENV, BASH_XTRACEFD, BASH_LOADABLES_PATH, BASH_COMPAT...
            P("BASH_"),
            E("BASHOPTS"),
            E("SHELLOPTS"),
            E("ENV"),
            E("SHELL"),
            E("PS0"),
            E("PS1"),
            E("PS2"),
            E("PS3"),
            E("PS4"),
            E("PROMPT_COMMAND"),
            E("IFS"),
            E("CDPATH"),
            E("GLOBIGNORE"),
            E("EXECIGNORE"),
            E("FPATH"),
            E("ZDOTDIR"),
            E("HISTFILE"),
            E("INPUTRC"),
            // Node's `shell: true` on Windows runs %ComSpec%.
            E("COMSPEC"),
        ],
    },
    Family {
        name: "command hook",
        effect: "names a command that tools run",
        source: "https://man7.org/linux/man-pages/man7/environ.7.html; \
                 https://man7.org/linux/man-pages/man1/less.1.html; \
                 https://cli.github.com/manual/gh_help_environment; \
                 https://download.samba.org/pub/rsync/rsync.1#ENVIRONMENT_VARIABLES; \
                 https://www.gnu.org/software/trans-coord/manual/cvs/html_node/Environment-variables.html; \
                 https://svnbook.red-bean.com/en/1.7/svn.serverconfig.svnserve.html#svn.serverconfig.svnserve.sshauth; \
                 https://borgbackup.readthedocs.io/en/stable/usage/general.html#environment-variables; \
                 https://restic.readthedocs.io/en/stable/040_backup.html#environment-variables; \
                 https://docs.aws.amazon.com/cli/latest/userguide/cli-usage-pagination.html; \
                 https://kubernetes.io/docs/reference/kubectl/generated/kubectl_edit/; \
                 https://www.freedesktop.org/software/systemd/man/latest/systemctl.html#Environment; \
                 https://www.postgresql.org/docs/current/app-psql.html#APP-PSQL-ENVIRONMENT",
        patterns: &[
            E("EDITOR"),
            E("VISUAL"),
            E("PAGER"),
            E("MANPAGER"),
            E("BROWSER"),
            // SSH_ASKPASS, GIT_ASKPASS, SUDO_ASKPASS
            S("_ASKPASS"),
            E("SSH_ASKPASS_REQUIRE"),
            // Remote shells and helper programs, each a command line: RSYNC_RSH, CVS_RSH,
            // BORG_RSH, SVN_SSH, RSYNC_CONNECT_PROG, GIT_SSH_COMMAND, RESTIC_PASSWORD_COMMAND,
            // SOPS_AGE_KEY_CMD... A build's own BUILD_CMD is a command too.
            S("_RSH"),
            S("_SSH"),
            S("_PROG"),
            S("_PROGRAM"),
            S("_COMMAND"),
            S("_CMD"),
            E("LESS"),
            E("LESSOPEN"),
            E("LESSCLOSE"),
            E("LESSEDIT"),
            E("LESSECHO"),
            E("LESSGLOBALTAGS"),
            E("LESSKEY"),
            E("LESSKEYIN"),
            E("LESSKEY_SYSTEM"),
            E("LESSKEYIN_SYSTEM"),
            E("LESSHISTFILE"),
            E("GH_BROWSER"),
            // Pagers and editors that tools run as commands: GH_PAGER, GIT_EDITOR,
            // AWS_PAGER, KUBE_EDITOR, SYSTEMD_PAGER, PSQL_PAGER...
            S("_PAGER"),
            S("_EDITOR"),
        ],
    },
    Family {
        name: "home and configuration folders",
        effect: "makes tools read their configuration (and its commands) from elsewhere",
        source: "https://git-scm.com/docs/git-config#FILES; \
                 https://curl.se/docs/manpage.html#ENVIRONMENT; \
                 https://pip.pypa.io/en/stable/topics/configuration/; \
                 https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-gettemppath2w",
        // TEMP and TMP: where Windows programs (and Node's os.tmpdir()) write and run files.
        patterns: &[E("HOME"), P("XDG_"), E("APPDATA"), E("TEMP"), E("TMP")],
    },
    Family {
        name: "configuration file pointer",
        effect: "makes a tool read another configuration file (credential helpers, plugins)",
        source: "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins; \
                 https://docs.docker.com/engine/reference/commandline/cli/#environment-variables; \
                 https://developer.hashicorp.com/terraform/cli/config/config-file; \
                 https://www.gnu.org/software/wget/manual/wget.html#Wgetrc-Location; \
                 https://docs.ansible.com/ansible/latest/reference_appendices/config.html#the-configuration-file; \
                 https://cloud.google.com/storage/docs/boto-gsutil; \
                 https://cloud.google.com/sdk/docs/configurations; \
                 https://stat.ethz.ch/R-manual/R-devel/library/base/html/Startup.html",
        // AWS_CONFIG_FILE, PIP_CONFIG_FILE, TF_CLI_CONFIG_FILE, GH_CONFIG_DIR, and bare
        // `_CONFIG` (ANSIBLE_CONFIG, DOCKER_CONFIG, BOTO_CONFIG, CLOUDSDK_CONFIG, SOPS_CONFIG)
        // and `_PROFILE` (R_PROFILE, a file of R code). Apps' JSON settings of that shape are
        // refused too; the documented ones are in ALLOW, the rest need `--allow`.
        patterns: &[
            S("_CONFIG"),
            S("_CONFIG_FILE"),
            S("_CONFIG_PATH"),
            S("_CONFIG_DIR"),
            S("_CONFIG_HOME"),
            S("_PROFILE"),
            E("KUBECONFIG"),
            E("CURL_HOME"),
            E("WGETRC"),
            E("NETRC"),
            E("GNUPGHOME"),
        ],
    },
    Family {
        name: "proxy",
        effect: "sends the build's network traffic, and the tokens it carries, through another host",
        source: "https://curl.se/docs/manpage.html#ENVIRONMENT; \
                 https://nodejs.org/api/cli.html#node_use_env_proxy1; \
                 https://github.com/gajus/global-agent#environment-variables",
        // The <scheme>_PROXY names curl reads (not a `_PROXY` suffix: IMAGE_PROXY is data),
        // Node's switch that makes it honour them, and global-agent's own names.
        patterns: &[
            E("NODE_USE_ENV_PROXY"),
            P("GLOBAL_AGENT_"),
            E("HTTP_PROXY"),
            E("HTTPS_PROXY"),
            E("FTP_PROXY"),
            E("FTPS_PROXY"),
            E("ALL_PROXY"),
            E("NO_PROXY"),
            E("SOCKS_PROXY"),
            E("SOCKS4_PROXY"),
            E("SOCKS4A_PROXY"),
            E("SOCKS5_PROXY"),
            E("SOCKS5H_PROXY"),
            E("WS_PROXY"),
            E("WSS_PROXY"),
            E("DICT_PROXY"),
            E("GOPHER_PROXY"),
            E("GOPHERS_PROXY"),
            E("IMAP_PROXY"),
            E("IMAPS_PROXY"),
            E("LDAP_PROXY"),
            E("LDAPS_PROXY"),
            E("MQTT_PROXY"),
            E("POP3_PROXY"),
            E("POP3S_PROXY"),
            E("RTSP_PROXY"),
            E("SCP_PROXY"),
            E("SFTP_PROXY"),
            E("SMB_PROXY"),
            E("SMBS_PROXY"),
            E("SMTP_PROXY"),
            E("SMTPS_PROXY"),
            E("TELNET_PROXY"),
            E("TFTP_PROXY"),
        ],
    },
    Family {
        name: "TLS",
        effect: "changes which certificates are trusted, loads engines, or logs TLS secrets",
        source: "https://curl.se/docs/manpage.html#ENVIRONMENT; \
                 https://docs.openssl.org/3.0/man7/openssl-env/; \
                 https://requests.readthedocs.io/en/latest/user/advanced/#ssl-cert-verification",
        // OPENSSL_CONF, OPENSSL_MODULES, OPENSSL_ENGINES...
        patterns: &[
            E("REQUESTS_CA_BUNDLE"),
            E("SSL_CERT_FILE"),
            E("SSL_CERT_DIR"),
            E("CURL_CA_BUNDLE"),
            E("SSLKEYLOGFILE"),
            P("OPENSSL_"),
        ],
    },
    Family {
        name: "git",
        effect: "runs commands (GIT_CONFIG_* sets core.fsmonitor, core.sshCommand...) or reads another repository or config",
        // A prefix: git reads more than 70 GIT_* names and keeps adding them.
        source: "https://git-scm.com/docs/git#_environment_variables; \
                 https://git-scm.com/docs/git-config#ENVIRONMENT",
        patterns: &[P("GIT_")],
    },
    Family {
        name: "ssh",
        effect: "points ssh (and git over ssh) at another agent",
        source: "https://man.openbsd.org/ssh#ENVIRONMENT",
        patterns: &[E("SSH_AUTH_SOCK")],
    },
    Family {
        name: "Node.js",
        effect: "loads modules or options into every node process, or changes TLS trust",
        // Exact names: NODE_ENV and NODE_URL are ordinary.
        source: "https://nodejs.org/api/cli.html#environment-variables",
        patterns: &[
            E("NODE_OPTIONS"),
            E("NODE_PATH"),
            E("NODE_REPL_EXTERNAL_MODULE"),
            E("NODE_REPL_HISTORY"),
            E("NODE_EXTRA_CA_CERTS"),
            E("NODE_TLS_REJECT_UNAUTHORIZED"),
            E("NODE_ICU_DATA"),
            E("NODE_COMPILE_CACHE"),
            E("NODE_V8_COVERAGE"),
            E("NODE_REDIRECT_WARNINGS"),
            E("NODE_DEBUG"),
            E("NODE_DEBUG_NATIVE"),
            E("NODE_PRESERVE_SYMLINKS"),
        ],
    },
    Family {
        name: "npm",
        effect: "sets any npm option (script-shell, registry, userconfig), in any case",
        source: "https://docs.npmjs.com/cli/v11/using-npm/config#environment-variables",
        patterns: &[P("NPM_CONFIG_"), E("NPM_EXECPATH"), E("NPM_NODE_EXECPATH")],
    },
    Family {
        name: "Yarn",
        effect: "sets any Yarn option (yarnPath, plugins, registry), in any case",
        source: "https://yarnpkg.com/configuration/yarnrc; https://classic.yarnpkg.com/en/docs/envvars",
        patterns: &[P("YARN_")],
    },
    Family {
        name: "pnpm",
        effect: "sets pnpm options and its home",
        source: "https://pnpm.io/settings",
        patterns: &[P("PNPM_")],
    },
    Family {
        name: "Corepack",
        effect: "downloads and runs a package manager from another registry, checks off",
        source: "https://github.com/nodejs/corepack#environment-variables",
        patterns: &[P("COREPACK_")],
    },
    Family {
        name: "Python",
        effect: "imports code into every python process (path, startup, warnings filter)",
        // `PYTHON_` for the 3.13+ names; `PYTHON` alone would catch PYTHONANYWHERE_API_TOKEN.
        source: "https://docs.python.org/3/using/cmdline.html#environment-variables",
        patterns: &[
            E("PYTHONHOME"),
            E("PYTHONPATH"),
            E("PYTHONSAFEPATH"),
            E("PYTHONPLATLIBDIR"),
            E("PYTHONSTARTUP"),
            E("PYTHONOPTIMIZE"),
            E("PYTHONBREAKPOINT"),
            E("PYTHONDEBUG"),
            E("PYTHONINSPECT"),
            E("PYTHONUNBUFFERED"),
            E("PYTHONVERBOSE"),
            E("PYTHONCASEOK"),
            E("PYTHONDONTWRITEBYTECODE"),
            E("PYTHONPYCACHEPREFIX"),
            E("PYTHONHASHSEED"),
            E("PYTHONINTMAXSTRDIGITS"),
            E("PYTHONIOENCODING"),
            E("PYTHONNOUSERSITE"),
            E("PYTHONUSERBASE"),
            E("PYTHONEXECUTABLE"),
            E("PYTHONWARNINGS"),
            E("PYTHONFAULTHANDLER"),
            E("PYTHONTRACEMALLOC"),
            E("PYTHONPROFILEIMPORTTIME"),
            E("PYTHONASYNCIODEBUG"),
            E("PYTHONMALLOC"),
            E("PYTHONMALLOCSTATS"),
            E("PYTHONLEGACYWINDOWSFSENCODING"),
            E("PYTHONLEGACYWINDOWSSTDIO"),
            E("PYTHONCOERCECLOCALE"),
            E("PYTHONDEVMODE"),
            E("PYTHONUTF8"),
            E("PYTHONWARNDEFAULTENCODING"),
            E("PYTHONNODEBUGRANGES"),
            E("PYTHONPERFSUPPORT"),
            E("PYTHONTHREADDEBUG"),
            E("PYTHONDUMPREFS"),
            E("PYTHONDUMPREFSFILE"),
            E("PYTHONHTTPSVERIFY"),
            P("PYTHON_"),
            E("VIRTUAL_ENV"),
        ],
    },
    Family {
        name: "Python packaging",
        effect: "installs from another index or reads another configuration",
        source: "https://pip.pypa.io/en/stable/topics/configuration/#environment-variables; \
                 https://docs.astral.sh/uv/reference/environment/",
        patterns: &[P("PIP_"), P("UV_")],
    },
    Family {
        name: "Ruby",
        effect: "loads libraries into every ruby process, or Gemfile code",
        source: "https://guides.rubygems.org/environment-variables/; \
                 https://docs.ruby-lang.org/en/master/ruby/options_md.html; \
                 https://bundler.io/man/bundle-config.1.html",
        patterns: &[
            E("RUBYOPT"),
            E("RUBYLIB"),
            E("RUBYLIB_PREFIX"),
            E("RUBYPATH"),
            E("RUBYSHELL"),
            P("RUBY_"),
            E("RUBYGEMS_GEMDEPS"),
            E("RUBYGEMS_HOST"),
            E("GEM_HOME"),
            E("GEM_PATH"),
            E("GEM_SPEC_CACHE"),
            E("GEMRC"),
            P("GEM_REQUIREMENT_"),
            P("BUNDLE_"),
        ],
    },
    Family {
        name: "Perl",
        effect: "loads modules into every perl process",
        source: "https://perldoc.perl.org/perlrun#ENVIRONMENT",
        patterns: &[
            P("PERL5"),
            P("PERL_"),
            P("PERLDB_"),
            E("PERLLIB"),
            E("PERLIO"),
            E("PERLIO_DEBUG"),
        ],
    },
    Family {
        name: "JVM",
        effect: "adds options (-javaagent) to every JVM or build launcher",
        source: "https://docs.oracle.com/en/java/javase/21/docs/specs/man/java.html; \
                 https://maven.apache.org/configure.html; \
                 https://docs.gradle.org/current/userguide/build_environment.html",
        patterns: &[
            E("JAVA_TOOL_OPTIONS"),
            E("_JAVA_OPTIONS"),
            E("JDK_JAVA_OPTIONS"),
            E("CLASSPATH"),
            E("JAVA_HOME"),
            E("MAVEN_ARGS"),
            E("MAVEN_HOME"),
            E("M2_HOME"),
            E("GRADLE_USER_HOME"),
            E("GRADLE_HOME"),
            E("ANT_HOME"),
            E("ANT_ARGS"),
        ],
    },
    Family {
        name: ".NET",
        effect: "loads startup hooks, profilers or build imports",
        source: "https://learn.microsoft.com/en-us/dotnet/core/runtime-config/debugging-profiling; \
                 https://github.com/dotnet/runtime/blob/main/docs/design/features/host-startup-hook.md; \
                 https://learn.microsoft.com/en-us/visualstudio/msbuild/customize-net-builds",
        patterns: &[
            P("DOTNET_"),
            P("COMPLUS_"),
            P("CORECLR_"),
            P("COR_"),
            E("ASPNETCORE_HOSTINGSTARTUPASSEMBLIES"),
            E("NUGET_PACKAGES"),
            E("NUGET_FALLBACK_PACKAGES"),
            E("NUGET_PLUGIN_PATHS"),
            E("NUGET_NETFX_PLUGIN_PATHS"),
            E("NUGET_NETCORE_PLUGIN_PATHS"),
            // MSBuild turns every environment variable into a (case-insensitive) property.
            P("CUSTOMBEFOREMICROSOFT"),
            P("CUSTOMAFTERMICROSOFT"),
            E("ALTERNATECOMMONPROPS"),
            E("DIRECTORYBUILDPROPSPATH"),
            E("DIRECTORYBUILDTARGETSPATH"),
            P("MSBUILDEXTENSIONSPATH"),
            E("MSBUILDUSEREXTENSIONSPATH"),
        ],
    },
    Family {
        name: "Go",
        effect: "runs commands around the compiler (-toolexec, GOCACHEPROG) or fetches another toolchain",
        // Exact names: a `GO` prefix would catch GOOGLE_API_KEY.
        source: "https://pkg.go.dev/cmd/go#hdr-Environment_variables",
        patterns: &[
            E("GOFLAGS"),
            E("GOENV"),
            E("GOTOOLCHAIN"),
            E("GOROOT"),
            E("GOPATH"),
            E("GOBIN"),
            E("GOMODCACHE"),
            E("GOCACHE"),
            E("GOCACHEPROG"),
            E("GOAUTH"),
            E("GOWORK"),
            E("GOPROXY"),
            E("GOSUMDB"),
            E("GONOSUMDB"),
            E("GONOPROXY"),
            E("GOPRIVATE"),
            E("GOINSECURE"),
            E("GOVCS"),
            E("GOTMPDIR"),
            E("GOTOOLDIR"),
            E("GOEXPERIMENT"),
            E("GODEBUG"),
            E("GCCGO"),
            P("CGO_"),
        ],
    },
    Family {
        name: "Rust",
        effect: "wraps rustc, sets linkers and runners, or picks another toolchain",
        source: "https://doc.rust-lang.org/cargo/reference/environment-variables.html; \
                 https://rust-lang.github.io/rustup/environment-variables.html",
        patterns: &[
            P("RUSTC"),
            P("RUSTDOC"),
            E("RUSTFLAGS"),
            // Every Cargo config key, e.g. CARGO_TARGET_<TRIPLE>_RUNNER.
            P("CARGO_"),
            P("RUSTUP_"),
        ],
    },
    Family {
        name: "PHP",
        effect: "reads another php.ini (auto_prepend_file) or composer.json (scripts)",
        source: "https://www.php.net/manual/en/configuration.file.php; \
                 https://getcomposer.org/doc/03-cli.md#environment-variables",
        patterns: &[
            E("PHPRC"),
            E("PHP_INI_SCAN_DIR"),
            E("COMPOSER"),
            E("COMPOSER_HOME"),
            E("COMPOSER_VENDOR_DIR"),
            E("COMPOSER_BIN_DIR"),
            E("COMPOSER_CAFILE"),
            E("COMPOSER_CACHE_DIR"),
        ],
    },
    Family {
        name: "C toolchain",
        effect: "chooses the compiler, its flags and plugins, or makefiles that run commands",
        source: "https://gcc.gnu.org/onlinedocs/gcc/Environment-Variables.html; \
                 https://www.gnu.org/software/make/manual/html_node/MAKEFILES-Variable.html; \
                 https://man7.org/linux/man-pages/man1/pkg-config.1.html",
        patterns: &[
            E("CC"),
            E("CXX"),
            E("CPP"),
            E("FC"),
            E("AR"),
            E("LD"),
            E("CFLAGS"),
            E("CXXFLAGS"),
            E("CPPFLAGS"),
            E("LDFLAGS"),
            E("GCC_EXEC_PREFIX"),
            E("COMPILER_PATH"),
            E("LIBRARY_PATH"),
            E("CPATH"),
            E("C_INCLUDE_PATH"),
            E("CPLUS_INCLUDE_PATH"),
            E("OBJC_INCLUDE_PATH"),
            E("DEPENDENCIES_OUTPUT"),
            E("SUNPRO_DEPENDENCIES"),
            P("PKG_CONFIG"),
            E("MAKEFILES"),
            E("MAKEFLAGS"),
            E("GNUMAKEFLAGS"),
            E("MFLAGS"),
        ],
    },
    Family {
        name: "AWS SDK",
        effect: "reads another config (credential_process), endpoint or credential source",
        source: "https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html; \
                 https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html; \
                 https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html",
        patterns: &[
            E("AWS_SHARED_CREDENTIALS_FILE"),
            E("AWS_CA_BUNDLE"),
            // AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>
            P("AWS_ENDPOINT_URL"),
            E("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
            E("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            E("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            E("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            E("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
            E("AWS_WEB_IDENTITY_TOKEN_FILE"),
        ],
    },
    Family {
        name: "deploy tools",
        effect: "talks to another daemon or backend, adds CLI arguments, or runs credential executables",
        source: "https://docs.docker.com/engine/reference/commandline/cli/#environment-variables; \
                 https://developer.hashicorp.com/terraform/cli/config/environment-variables; \
                 https://www.pulumi.com/docs/iac/cli/environment-variables/; \
                 https://cloud.google.com/java/docs/reference/google-auth-library/latest/com.google.auth.oauth2.PluggableAuthCredentials",
        patterns: &[
            E("DOCKER_HOST"),
            E("DOCKER_CONTEXT"),
            E("DOCKER_CERT_PATH"),
            E("DOCKER_TLS_VERIFY"),
            P("TF_CLI_ARGS"),
            // Where Terraform keeps (and loads) providers and modules.
            E("TF_DATA_DIR"),
            E("TF_PLUGIN_CACHE_DIR"),
            E("PULUMI_BACKEND_URL"),
            E("GOOGLE_APPLICATION_CREDENTIALS"),
            E("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"),
        ],
    },
    Family {
        name: "native binaries",
        effect: "makes a tool load or run a native binary from elsewhere, or an install download one",
        source: "https://www.prisma.io/docs/orm/reference/environment-variables-reference; \
                 https://pptr.dev/guides/configuration/; https://github.com/electron/get; \
                 https://github.com/sass/node-sass#binary-configuration-parameters; \
                 https://www.npmjs.com/package/@swc/core; \
                 https://github.com/evanw/esbuild/blob/main/lib/npm/node-platform.ts; \
                 https://github.com/karma-runner/karma-chrome-launcher#readme; \
                 https://playwright.dev/docs/browsers; \
                 https://docs.sentry.io/cli/installation/",
        patterns: &[
            // SWC_BINARY_PATH and SASS_BINARY_PATH (a .node file that is require()d),
            // ESBUILD_BINARY_PATH, PRISMA_QUERY_ENGINE_BINARY, CYPRESS_RUN_BINARY...
            S("_BINARY"),
            S("_BINARY_PATH"),
            S("_BINARY_SITE"),
            S("_BINARY_DIR"),
            // CHROME_BIN (Karma), PUPPETEER_EXECUTABLE_PATH...
            S("_BIN"),
            S("_EXECUTABLE"),
            S("_EXECUTABLE_PATH"),
            // Where an install downloads a binary from: ELECTRON_MIRROR, PRISMA_ENGINES_MIRROR,
            // PUPPETEER_DOWNLOAD_HOST, PLAYWRIGHT_DOWNLOAD_HOST, SENTRYCLI_CDNURL...
            S("_MIRROR"),
            S("_DOWNLOAD_HOST"),
            S("_CDNURL"),
            E("PUPPETEER_DOWNLOAD_BASE_URL"),
            E("PRISMA_QUERY_ENGINE_LIBRARY"),
            E("PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING"),
        ],
    },
    Family {
        name: "interpreter and native binary choice",
        effect: "picks the interpreter or native binary that an install or a tool runs",
        source: "https://github.com/nodejs/node-gyp#configuring-python-dependency; \
                 https://www.electronjs.org/docs/latest/api/environment-variables#electron_run_as_node; \
                 https://aws.github.io/jsii/user-guides/lib-user/configuration/; \
                 https://cloud.google.com/sdk/gcloud/reference/topic/startup",
        patterns: &[
            // node-gyp runs them during `npm install` of any native addon.
            E("PYTHON"),
            E("NODE_GYP_FORCE_PYTHON"),
            // Turns any Electron binary into a plain node that honours NODE_OPTIONS.
            E("ELECTRON_RUN_AS_NODE"),
            // CDK apps in Python, Java, .NET and Go start these for the jsii kernel.
            E("JSII_NODE"),
            E("JSII_RUNTIME"),
            E("CLOUDSDK_PYTHON"),
        ],
    },
    Family {
        name: "startup file or configuration pointer",
        effect: "runs startup code or reads another configuration (with its commands)",
        source: "https://vimhelp.org/starting.txt.html#VIMINIT; \
                 https://www.lua.org/manual/5.4/lua.html#7; \
                 https://www.postgresql.org/docs/current/app-psql.html#APP-PSQL-ENVIRONMENT; \
                 https://docs.ruby-lang.org/en/master/IRB.html; \
                 https://cloud.google.com/storage/docs/boto-gsutil; \
                 https://www.mercurial-scm.org/doc/hg.1.html#environment; \
                 https://docs.conda.io/projects/conda/en/latest/user-guide/configuration/use-condarc.html; \
                 https://man7.org/linux/man-pages/man5/terminfo.5.html",
        patterns: &[
            E("VIMINIT"),
            E("EXINIT"),
            // LUA_INIT, LUA_INIT_5_4, LUA_PATH_5_4, LUA_CPATH...
            P("LUA_INIT"),
            P("LUA_PATH"),
            P("LUA_CPATH"),
            E("PSQLRC"),
            E("IRBRC"),
            E("BOTO_PATH"),
            E("HGRCPATH"),
            E("CONDARC"),
            E("TERMINFO"),
            E("TERMINFO_DIRS"),
        ],
    },
    Family {
        name: "Bun",
        effect: "adds runtime options, or installs from another registry or into another folder",
        source: "https://bun.com/docs/runtime/environment-variables; \
                 https://bun.com/docs/pm/cli/install",
        patterns: &[E("BUN_OPTIONS"), P("BUN_CONFIG_"), P("BUN_INSTALL")],
    },
    Family {
        name: "Deno",
        effect: "loads modules from another cache, trusts other certificates, or installs elsewhere",
        // DENO_AUTH_TOKENS passes: a credential, it redirects nothing.
        source: "https://docs.deno.com/runtime/reference/env_variables/",
        patterns: &[
            E("DENO_DIR"),
            E("DENO_CERT"),
            E("DENO_TLS_CA_STORE"),
            E("DENO_INSTALL_ROOT"),
        ],
    },
    Family {
        name: "TypeScript loaders",
        effect: "makes ts-node or swc-node read another tsconfig or load another compiler",
        source: "https://typestrong.org/ts-node/docs/options; \
                 https://github.com/swc-project/swc-node#readme",
        // ts-node reads each option as TS_NODE_<OPTION>: COMPILER names a module to load, and
        // PROJECT a tsconfig whose "ts-node" section lists modules to require.
        patterns: &[P("TS_NODE_"), E("SWC_NODE_PROJECT")],
    },
    Family {
        name: "R",
        effect: "runs startup code, loads packages from another library, or names commands R runs",
        // A prefix: R reads dozens of R_* names (R_PROFILE_USER, R_ENVIRON_USER, R_LIBS_USER,
        // R_BROWSER, R_PDFVIEWER...), and no app names its secrets R_*.
        source: "https://stat.ethz.ch/R-manual/R-devel/library/base/html/Startup.html; \
                 https://stat.ethz.ch/R-manual/R-devel/library/base/html/EnvVar.html",
        patterns: &[P("R_")],
    },
    Family {
        name: "Ansible",
        effect: "loads modules, plugins or vault password scripts from elsewhere",
        source: "https://docs.ansible.com/ansible/latest/reference_appendices/config.html",
        patterns: &[P("ANSIBLE_")],
    },
    Family {
        name: "sops and sls-secrets",
        effect: "changes which keys and configuration a nested sops or sls-secrets uses",
        source: "https://github.com/getsops/sops#readme; this tool's README",
        patterns: &[P("SOPS_"), P("SLS_SECRETS_")],
    },
    // The suffix families: last, so that a tool's own family names it first.
    Family {
        name: "library paths",
        effect: "makes an interpreter or a native addon loader load code from another folder",
        source: "https://www.tcl-lang.org/man/tcl8.6/TclCmd/tclvars.htm; \
                 https://www.erlang.org/doc/apps/erts/erl_cmd.html#environment-variables; \
                 https://docs.julialang.org/en/v1/manual/environment-variables/; \
                 https://www.gnu.org/software/guile/manual/html_node/Environment-Variables.html; \
                 https://www.gnu.org/software/emacs/manual/html_node/emacs/General-Variables.html; \
                 https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_psmodulepath; \
                 https://downloads.haskell.org/ghc/latest/docs/users_guide/packages.html; \
                 https://docs.raku.org/programs/03-environment-variables; \
                 https://doc.qt.io/qt-6/deployment-plugins.html; \
                 https://docs.pytest.org/en/stable/reference/reference.html#envvar-PYTEST_PLUGINS",
        patterns: &[
            E("TCLLIBPATH"),
            E("TCL_LIBRARY"),
            E("TK_LIBRARY"),
            // ERL_LIBS, and ERL_FLAGS, ERL_AFLAGS and ERL_ZFLAGS, which take `-eval`.
            P("ERL_"),
            P("JULIA_"),
            P("GUILE_"),
            E("EMACSLOADPATH"),
            E("PSMODULEPATH"),
            E("GHC_PACKAGE_PATH"),
            E("GHC_ENVIRONMENT"),
            E("RAKULIB"),
            E("PERL6LIB"),
            // The next runtime's: NAPI_RS_NATIVE_LIBRARY_PATH (the .node file napi-rs loaders
            // require first), GUILE_LOAD_PATH, QT_PLUGIN_PATH, GST_PLUGIN_PATH, PYTEST_PLUGINS...
            S("_LIBRARY_PATH"),
            S("_LOAD_PATH"),
            S("_PLUGIN_PATH"),
            S("_PLUGINS"),
        ],
    },
    Family {
        name: "version managers and toolchain homes",
        effect: "picks which node, python or ruby a shim runs, or the folder a toolchain runs from",
        source: "https://docs.volta.sh/guide/getting-started; \
                 https://github.com/pyenv/pyenv#environment-variables; \
                 https://github.com/nvm-sh/nvm#readme; \
                 https://github.com/Schniz/fnm/blob/master/docs/configuration.md; \
                 https://github.com/tj/n#optional-environment-variables; \
                 https://asdf-vm.com/manage/configuration.html#environment-variables; \
                 https://mise.jdx.dev/configuration.html#environment-variables; \
                 https://github.com/rbenv/rbenv#environment-variables; \
                 https://github.com/nodenv/nodenv#environment-variables",
        patterns: &[
            // VOLTA_HOME (Volta's shims run the node under it), JAVA_HOME, ANDROID_HOME...
            S("_HOME"),
            P("VOLTA_"),
            P("PYENV_"),
            P("NVM_"),
            P("FNM_"),
            E("N_PREFIX"),
            P("ASDF_"),
            P("MISE_"),
            P("RBENV_"),
            P("NODENV_"),
        ],
    },
    Family {
        name: "command-line options",
        effect: "adds command-line flags to a tool (tar's --checkpoint-action=exec runs a command)",
        source: "https://www.gnu.org/software/tar/manual/html_node/using-tar-options.html; \
                 https://www.gnu.org/software/tar/manual/html_section/checkpoints.html; \
                 https://maven.apache.org/configure.html; \
                 https://docs.pytest.org/en/stable/reference/reference.html#envvar-PYTEST_ADDOPTS",
        // TAR_OPTIONS, GREP_OPTIONS, ELIXIR_ERL_OPTIONS, JAVA_OPTS, MAVEN_OPTS, SBT_OPTS,
        // ELECTRON_EXTRA_LAUNCH_ARGS... Not `_FLAGS`: FEATURE_FLAGS is an app setting, and the
        // compilers' flags are listed under C toolchain, Go and Rust.
        patterns: &[S("_OPTIONS"), S("_OPTS"), S("_ARGS"), E("PYTEST_ADDOPTS")],
    },
];

/// Checked before [`DENY`]: documented ordinary names that a prefix would catch, and
/// front-end public prefixes that no runtime or tool reads for behaviour.
const ALLOW: &[Pattern] = &[
    E("DOTNET_ENVIRONMENT"),
    E("DOTNET_CLI_TELEMETRY_OPTOUT"),
    E("DOTNET_NOLOGO"),
    // git ignores GIT_* names it does not know (tokens for CI scripts; semantic-release
    // documents GIT_CREDENTIALS), and the identity variables only label commits.
    E("GIT_TOKEN"),
    E("GIT_PASSWORD"),
    E("GIT_CREDENTIALS"),
    E("GIT_AUTHOR_NAME"),
    E("GIT_AUTHOR_EMAIL"),
    E("GIT_AUTHOR_DATE"),
    E("GIT_COMMITTER_NAME"),
    E("GIT_COMMITTER_EMAIL"),
    E("GIT_COMMITTER_DATE"),
    // Registry credentials: https://doc.rust-lang.org/cargo/reference/config.html#registriesnametoken
    E("CARGO_REGISTRY_TOKEN"),
    PS("CARGO_REGISTRIES_", "_TOKEN"),
    // https://yarnpkg.com/configuration/yarnrc#npmAuthIdent
    E("YARN_NPM_AUTH_TOKEN"),
    E("YARN_NPM_AUTH_IDENT"),
    // https://bundler.io/man/bundle-config.1.html#CREDENTIALS-FOR-GEM-SOURCES
    Pattern::BundlerHost,
    // libuv's thread pool size (Node), not uv's.
    E("UV_THREADPOOL_SIZE"),
    // Names of the `_CONFIG` and `_PROFILE` shape that point at no file: firebase-admin's
    // app settings (project, database URL), an app's own JSON, a switch that makes AWS SDKs
    // read the operator's ~/.aws/config, and a profile name in it (which a stage file can't
    // write). https://firebase.google.com/docs/admin/setup#initialize_the_sdk_in_non-google_environments;
    // https://docs.aws.amazon.com/sdkref/latest/guide/file-location.html
    E("FIREBASE_CONFIG"),
    E("APP_CONFIG"),
    E("AWS_SDK_LOAD_CONFIG"),
    E("AWS_PROFILE"),
    E("AWS_DEFAULT_PROFILE"),
    P("NEXT_PUBLIC_"),
    P("REACT_APP_"),
    P("VITE_"),
    P("EXPO_PUBLIC_"),
    P("NUXT_PUBLIC_"),
    P("PUBLIC_"),
];

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && bytes.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// The family that makes `exec` refuse `name` from a stage file, if any.
pub fn refused(name: &str) -> Option<&'static Family> {
    if !is_plain_name(name) {
        return Some(&MALFORMED);
    }
    let upper = name.to_ascii_uppercase();
    if ALLOW.iter().any(|p| p.matches(&upper)) {
        return None;
    }
    DENY.iter()
        .find(|f| f.patterns.iter().any(|p| p.matches(&upper)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ordinary secrets and settings: none may be refused.
    const MUST_PASS: &[&str] = &[
        "DB_PASSWORD",
        "DATABASE_URL",
        "database_url",
        "API_KEY",
        "STRIPE_SECRET",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "SENTRY_DSN",
        "SENTRY_AUTH_TOKEN",
        "NEXT_PUBLIC_API_URL",
        "NEXT_PUBLIC_IMAGE_PROXY",
        "NEXT_PUBLIC_FIREBASE_CONFIG",
        "REACT_APP_API_KEY",
        "VITE_API_URL",
        "EXPO_PUBLIC_API_URL",
        "NUXT_PUBLIC_SITE_URL",
        "PUBLIC_SUPABASE_URL",
        "NODE_ENV",
        "RAILS_ENV",
        "RAILS_MASTER_KEY",
        "SECRET_KEY_BASE",
        "DJANGO_SECRET_KEY",
        "DJANGO_SETTINGS_MODULE",
        "JWT_SECRET",
        "COOKIE_SECRET",
        "REDIS_URL",
        "MONGODB_URI",
        "POSTGRES_PASSWORD",
        "PGPASSWORD",
        "SMTP_PASSWORD",
        "SLACK_WEBHOOK_URL",
        "OPENAI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_CLIENT_SECRET",
        "GOOGLE_CLOUD_PROJECT",
        "CLOUDFLARE_API_TOKEN",
        "VERCEL_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_SDK_LOAD_CONFIG",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "NPM_TOKEN",
        "NODE_AUTH_TOKEN",
        "YARN_NPM_AUTH_TOKEN",
        "CARGO_REGISTRY_TOKEN",
        "GEM_HOST_API_KEY",
        "RUBYGEMS_API_KEY",
        "COMPOSER_AUTH",
        "TF_VAR_db_password",
        "PULUMI_CONFIG_PASSPHRASE",
        "PULUMI_ACCESS_TOKEN",
        "DOCKER_USERNAME",
        "DOCKER_PASSWORD",
        "DOCKERHUB_TOKEN",
        "MAVEN_USERNAME",
        "MAVEN_PASSWORD",
        "ORG_GRADLE_PROJECT_signingKey",
        "ASPNETCORE_ENVIRONMENT",
        "DOTNET_ENVIRONMENT",
        "NuGetPackageSourceCredentials_myfeed",
        "PYTHONANYWHERE_API_TOKEN",
        "APP_CONFIG",
        "FIREBASE_CONFIG",
        "APP_ENV",
        "ENVIRONMENT",
        "LOG_LEVEL",
        "DEBUG",
        "PORT",
        "TZ",
        "LANG",
        "LC_ALL",
        "RUST_LOG",
        "RUST_BACKTRACE",
        "MALLOC_ARENA_MAX",
        "CI",
        "HTTP_TIMEOUT",
        "PROXY_URL",
        "IMAGE_PROXY_URL",
        "UV_THREADPOOL_SIZE",
        "SST_STAGE",
        "GOOS",
        "GOARCH",
        "GOAMD64",
        "GO111MODULE",
        "NODE_NO_WARNINGS",
        "NODE_DISABLE_COLORS",
        "FORCE_COLOR",
        "NO_COLOR",
        "NODE_URL",
        "NODE_RPC_URL",
        // Credentials and identity that a prefix rule would catch: git ignores unknown
        // GIT_* names, and identity variables run nothing.
        "GIT_TOKEN",
        "GIT_PASSWORD",
        "GIT_CREDENTIALS",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "CARGO_REGISTRIES_MY_REGISTRY_TOKEN",
        "cargo_registries_internal_token",
        "YARN_NPM_AUTH_IDENT",
        "BUNDLE_GEMS__EXAMPLE__COM",
        "BUNDLE_RUBYGEMS__PKG__GITHUB__COM",
        "BUNDLE_MY___REGISTRY__EXAMPLE__COM",
        "DENO_AUTH_TOKENS",
        // Ordinary secrets next to the suffix families.
        "STRIPE_KEY",
        "API_TOKEN",
        "AWS_DEFAULT_PROFILE",
        "SESSION_SECRET",
        "DB_HOST",
        "DB_USER",
        "SIGNING_KEY_PEM",
        "WEBHOOK_URL",
        "OAUTH_CLIENT_ID",
        "ENCRYPTION_KEY",
    ];

    /// At least one per family; mixed case on purpose.
    const MUST_REFUSE: &[&str] = &[
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "DYLD_INSERT_LIBRARIES",
        "NODE_OPTIONS",
        "NODE_PATH",
        "NODE_REPL_EXTERNAL_MODULE",
        "NODE_EXTRA_CA_CERTS",
        "npm_config_script_shell",
        "Npm_Config_Script_Shell",
        "NPM_CONFIG_USERCONFIG",
        "Npm_Config_Registry",
        "npm_execpath",
        "YARN_RC_FILENAME",
        "yarn_yarn_path",
        "YARN_PLUGINS",
        "PNPM_HOME",
        "pnpm_config_store_dir",
        "COREPACK_NPM_REGISTRY",
        "COREPACK_INTEGRITY_KEYS",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PYTHONUSERBASE",
        "PYTHONINSPECT",
        "PYTHONBREAKPOINT",
        "PYTHONWARNINGS",
        "PYTHON_PRESITE",
        "PIP_INDEX_URL",
        "PIP_CONFIG_FILE",
        "UV_DEFAULT_INDEX",
        "RUBYOPT",
        "RUBYLIB",
        "BUNDLE_GEMFILE",
        "GEM_HOME",
        "RUBYGEMS_GEMDEPS",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "PERL5DB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "CLASSPATH",
        "MAVEN_OPTS",
        "MAVEN_ARGS",
        "GRADLE_OPTS",
        "GRADLE_USER_HOME",
        "DOTNET_STARTUP_HOOKS",
        "COR_PROFILER",
        "CORECLR_PROFILER_PATH",
        "CustomBeforeMicrosoftCommonTargets",
        "GOFLAGS",
        "GOPROXY",
        "GOENV",
        "GOTOOLCHAIN",
        "CGO_LDFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC",
        "RUSTFLAGS",
        "CARGO_HOME",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
        "RUSTUP_TOOLCHAIN",
        "PHPRC",
        "PHP_INI_SCAN_DIR",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_KEY_0",
        "GIT_CONFIG_VALUE_0",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_PARAMETERS",
        "GIT_EXEC_PATH",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "GIT_EDITOR",
        "GIT_PAGER",
        "GIT_PROXY_COMMAND",
        "GIT_EXTERNAL_DIFF",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_TEMPLATE_DIR",
        "GIT_TRACE",
        "git_config_count",
        "SSH_ASKPASS",
        "SSH_AUTH_SOCK",
        "BASH_ENV",
        "ENV",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "IFS",
        "CDPATH",
        "ZDOTDIR",
        "BASH_FUNC_ls%%",
        "BASH_XTRACEFD",
        "HISTFILE",
        "COMSPEC",
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_CONFIG_DIRS",
        "XDG_DATA_HOME",
        "EDITOR",
        "VISUAL",
        "PAGER",
        "SHELL",
        "LESSOPEN",
        "GH_PAGER",
        "TMPDIR",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "CURL_CA_BUNDLE",
        "SSLKEYLOGFILE",
        "OPENSSL_CONF",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL_S3",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "KUBECONFIG",
        "DOCKER_CONFIG",
        "DOCKER_HOST",
        "TF_CLI_ARGS_plan",
        "PULUMI_BACKEND_URL",
        "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES",
        "CURL_HOME",
        "WGETRC",
        "GNUPGHOME",
        "LOCPATH",
        "GCONV_PATH",
        "NLSPATH",
        "HOSTALIASES",
        "RESOLV_HOST_CONF",
        "LOCALDOMAIN",
        "TZDIR",
        "MALLOC_TRACE",
        "BROWSER",
        "MAKEFILES",
        "MAKEFLAGS",
        "GCC_EXEC_PREFIX",
        "CC",
        "PKG_CONFIG_PATH",
        "PYENV_VERSION",
        "ELECTRON_MIRROR",
        "PUPPETEER_EXECUTABLE_PATH",
        "PRISMA_QUERY_ENGINE_LIBRARY",
        "SOPS_CONFIG",
        "SLS_SECRETS_DIR",
        "MY_TOOL_CONFIG_FILE",
        "lower-case.dotted",
        "GLIBC_TUNABLES",
        "PYTHON",
        "NODE_GYP_FORCE_PYTHON",
        "ESBUILD_BINARY_PATH",
        "ELECTRON_RUN_AS_NODE",
        "JSII_NODE",
        "JSII_RUNTIME",
        "CLOUDSDK_PYTHON",
        "AWS_PAGER",
        "KUBE_EDITOR",
        "SYSTEMD_PAGER",
        "PSQL_PAGER",
        "GIT_EDITOR",
        "REQUESTS_CA_BUNDLE",
        "NODE_USE_ENV_PROXY",
        "GLOBAL_AGENT_HTTP_PROXY",
        "GLOBAL_AGENT_HTTPS_PROXY",
        "TEMP",
        "TMP",
        "VIMINIT",
        "EXINIT",
        "LUA_INIT",
        "LUA_INIT_5_4",
        "LUA_PATH",
        "LUA_PATH_5_4",
        "LUA_CPATH",
        "PSQLRC",
        "IRBRC",
        "BOTO_CONFIG",
        "CLOUDSDK_CONFIG",
        "TF_DATA_DIR",
        "TF_PLUGIN_CACHE_DIR",
        "HGRCPATH",
        "RSYNC_RSH",
        "CONDARC",
        "TERMINFO",
        "BUN_INSTALL",
        "BUN_INSTALL_CACHE_DIR",
        "BUN_CONFIG_REGISTRY",
        "BUN_OPTIONS",
        "DENO_DIR",
        "DENO_CERT",
        "DENO_TLS_CA_STORE",
        "DENO_INSTALL_ROOT",
        // Bundler settings that share the `BUNDLE_<A>__<B>` shape of host credentials.
        "BUNDLE_LOCAL__RACK",
        "BUNDLE_BUILD__NOKOGIRI",
        "BUNDLE_GEMFILE",
        "CARGO_REGISTRIES_MINE_INDEX",
        "CARGO_REGISTRIES_MINE_CREDENTIAL_PROVIDER",
    ];

    /// The names an adversarial review got past the table (issue 22, item 7), each with the
    /// family that now refuses it.
    const ISSUE_22: &[(&str, &str)] = &[
        ("TAR_OPTIONS", "command-line options"),
        ("RSYNC_CONNECT_PROG", "command hook"),
        ("CVS_RSH", "command hook"),
        ("SWC_BINARY_PATH", "native binaries"),
        ("SASS_BINARY_PATH", "native binaries"),
        ("TS_NODE_PROJECT", "TypeScript loaders"),
        ("R_PROFILE_USER", "R"),
        ("TCLLIBPATH", "library paths"),
        ("VOLTA_HOME", "version managers and toolchain homes"),
        ("ANSIBLE_CONFIG", "configuration file pointer"),
    ];

    /// Names no family lists, caught by the shape of the name alone.
    const CAUGHT_BY_SHAPE: &[(&str, &str)] = &[
        ("FOO_OPTIONS", "command-line options"),
        ("grep_options", "command-line options"),
        ("SBT_OPTS", "command-line options"),
        ("ELECTRON_EXTRA_LAUNCH_ARGS", "command-line options"),
        ("XYZ_RSH", "command hook"),
        ("BORG_RSH", "command hook"),
        ("SVN_SSH", "command hook"),
        ("FOO_PROGRAM", "command hook"),
        ("RESTIC_PASSWORD_COMMAND", "command hook"),
        ("BUILD_CMD", "command hook"),
        ("NEWTOOL_BINARY", "native binaries"),
        ("NEWTOOL_BINARY_PATH", "native binaries"),
        ("SASS_BINARY_SITE", "native binaries"),
        ("CHROME_BIN", "native binaries"),
        ("PLAYWRIGHT_DOWNLOAD_HOST", "native binaries"),
        ("NVM_NODEJS_ORG_MIRROR", "native binaries"),
        ("SENTRYCLI_CDNURL", "native binaries"),
        ("ESBUILD_BINARY_PATH", "native binaries"),
        ("PRISMA_QUERY_ENGINE_BINARY", "native binaries"),
        ("DB_CONFIG", "configuration file pointer"),
        ("NEWTOOL_PROFILE", "configuration file pointer"),
        ("R_PROFILE", "configuration file pointer"),
        ("BOTO_CONFIG", "configuration file pointer"),
        ("R_LIBS_USER", "R"),
        ("TS_NODE_COMPILER", "TypeScript loaders"),
        ("SWC_NODE_PROJECT", "TypeScript loaders"),
        ("ANSIBLE_LIBRARY", "Ansible"),
        ("TCL_LIBRARY", "library paths"),
        ("ERL_FLAGS", "library paths"),
        ("JULIA_LOAD_PATH", "library paths"),
        ("NAPI_RS_NATIVE_LIBRARY_PATH", "library paths"),
        ("QT_PLUGIN_PATH", "library paths"),
        ("PYTEST_PLUGINS", "library paths"),
        ("ANDROID_HOME", "version managers and toolchain homes"),
        ("NVM_DIR", "version managers and toolchain homes"),
        ("PYENV_VERSION", "version managers and toolchain homes"),
        ("N_PREFIX", "version managers and toolchain homes"),
        // A tool's own family still names it before a suffix family would.
        ("NODE_OPTIONS", "Node.js"),
        ("JAVA_TOOL_OPTIONS", "JVM"),
        ("JAVA_HOME", "JVM"),
        ("GEM_HOME", "Ruby"),
        ("BUN_OPTIONS", "Bun"),
    ];

    fn family_of(name: &str) -> Option<&'static str> {
        refused(name).map(|family| family.name)
    }

    #[test]
    fn names_from_issue_22_are_refused_by_their_family() {
        let wrong: Vec<String> = ISSUE_22
            .iter()
            .filter(|(name, family)| family_of(name) != Some(family))
            .map(|(name, family)| format!("{name}: {:?}, not {family}", family_of(name)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn suffix_families_catch_names_no_one_listed() {
        let wrong: Vec<String> = CAUGHT_BY_SHAPE
            .iter()
            .filter(|(name, family)| family_of(name) != Some(family))
            .map(|(name, family)| format!("{name}: {:?}, not {family}", family_of(name)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// Whether every name `narrow` matches is also matched by `broad`.
    fn covers(broad: Pattern, narrow: Pattern) -> bool {
        match (broad, narrow) {
            (_, E(name)) => broad.matches(name),
            (P(outer), P(inner)) => inner.starts_with(outer),
            (S(outer), S(inner)) => inner.ends_with(outer),
            (P(outer), PS(prefix, _)) => prefix.starts_with(outer),
            (S(outer), PS(_, suffix)) => suffix.ends_with(outer),
            (PS(outer_prefix, outer_suffix), PS(prefix, suffix)) => {
                prefix.starts_with(outer_prefix) && suffix.ends_with(outer_suffix)
            }
            _ => false,
        }
    }

    /// One place per rule: no rule is a duplicate of, or hidden by, a rule of its own family
    /// or of an earlier one (which would name the reason instead). A later, broader family may
    /// overlap: the tool's own family is then the one the error names.
    #[test]
    fn no_rule_is_hidden_by_another() {
        let mut hidden = Vec::new();
        for (index, family) in DENY.iter().enumerate() {
            for (position, &pattern) in family.patterns.iter().enumerate() {
                for earlier in &DENY[..=index] {
                    for (other_position, &other) in earlier.patterns.iter().enumerate() {
                        let itself = std::ptr::eq(earlier, family) && other_position == position;
                        if !itself && covers(other, pattern) {
                            hidden.push(format!(
                                "{pattern:?} ({}) by {other:?} ({})",
                                family.name, earlier.name
                            ));
                        }
                    }
                }
            }
        }
        assert!(hidden.is_empty(), "{hidden:#?}");
    }

    /// Every exact exception lifts a refusal; one that doesn't is stale.
    #[test]
    fn every_exact_exception_overrides_a_rule() {
        let stale: Vec<&str> = ALLOW
            .iter()
            .filter_map(|pattern| match pattern {
                E(name) => Some(*name),
                _ => None,
            })
            .filter(|name| {
                !DENY
                    .iter()
                    .any(|family| family.patterns.iter().any(|p| p.matches(name)))
            })
            .collect();
        assert!(stale.is_empty(), "{stale:?}");
    }

    #[test]
    fn ordinary_names_pass() {
        let wrong: Vec<String> = MUST_PASS
            .iter()
            .filter_map(|n| refused(n).map(|f| format!("{n} ({})", f.name)))
            .collect();
        assert!(wrong.is_empty(), "wrongly refused: {wrong:?}");
    }

    #[test]
    fn names_that_take_over_a_build_are_refused() {
        let wrong: Vec<&&str> = MUST_REFUSE
            .iter()
            .filter(|n| refused(n).is_none())
            .collect();
        assert!(wrong.is_empty(), "wrongly passed: {wrong:?}");
    }

    #[test]
    fn every_family_has_a_source_and_patterns() {
        for f in DENY {
            assert!(f.source.contains("https://"), "{}", f.name);
            assert!(!f.patterns.is_empty(), "{}", f.name);
            for p in f.patterns {
                let texts = match *p {
                    E(s) | P(s) | S(s) => vec![s],
                    PS(a, b) => vec![a, b],
                    Pattern::BundlerHost => vec![],
                };
                for s in texts {
                    assert_eq!(
                        s,
                        s.to_ascii_uppercase(),
                        "{}: patterns are uppercase",
                        f.name
                    );
                }
            }
        }
    }
}

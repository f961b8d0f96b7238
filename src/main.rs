//! The `loadtest-bot` binary: parses the command line, sets up logging and hands over to a
//! front end. Errors print their whole cause chain; exit codes: 0 success or no changes,
//! 1 failed / cancelled / timed out, 2 rejected or bad config.

use clap::{Parser, Subcommand};
use loadtest_bot::app;
use loadtest_bot::front;
use loadtest_bot::request::ExitClass;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a burst of slash commands allocates and frees per
/// connection on two worker threads, where glibc spent about a tenth of `serve`'s CPU
/// (`_int_free`, `malloc_consolidate`, `unlink_chunk`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "loadtest-bot",
    version,
    about = "Chat-ops for Terraform load-test environments"
)]
struct Cli {
    /// Configuration file (else $LOADTEST_CONFIG, else ./loadtest.toml).
    #[arg(long, global = true, env = "LOADTEST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand, Debug)]
enum CliCommand {
    /// Run the Slack bot (Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode).
    Serve,
    /// The local chat console: type commands as in Slack, see the messages as text.
    Shell {
        /// Act as this Slack user (policy applies) instead of the console admin.
        #[arg(long = "as", value_name = "SLACK_USER_ID")]
        as_user: Option<String>,
    },
    /// Run one command to its end, printing each message's text.
    Exec {
        #[arg(long = "as", value_name = "SLACK_USER_ID")]
        as_user: Option<String>,
        /// The channel the command comes from (channel bindings apply).
        #[arg(long, value_name = "CHANNEL_ID")]
        channel: Option<String>,
        /// The command, e.g. `up large for 3h env=lt1`.
        #[arg(last = true, required = true, num_args = 1..)]
        words: Vec<String>,
    },
    /// Validate config, variable sets, templates, schedules and binaries.
    Check,
}

fn main() -> ExitCode {
    // Before anything is created: the state directory's plans, logs and store are the bot's
    // user's alone (explicit modes in `private_fs` back this up).
    loadtest_bot::private_fs::restrict_umask();
    let cli = Cli::parse();
    app::init_tracing();
    let config_path = cli.config.unwrap_or_else(|| PathBuf::from("loadtest.toml"));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadtest-bot: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            CliCommand::Serve => front::slack::serve::run_serve(&config_path).await,
            CliCommand::Shell { as_user } => front::console::run_shell(&config_path, as_user).await,
            CliCommand::Exec {
                as_user,
                channel,
                words,
            } => front::exec::run_exec(&config_path, as_user, channel, words.join(" ")).await,
            CliCommand::Check => front::check::run_check(&config_path).await,
        }
    });
    match result {
        Ok(class) => ExitCode::from(class.code()),
        Err(error) => {
            eprintln!("loadtest-bot: error: {error:#}");
            ExitCode::from(ExitClass::Rejected.code())
        }
    }
}

# Bad pool configuration stops httpd with one line naming the config file
# and line (and, for the pools file, the parser's own "FILE:LINE: KEY:"):
#   VhostFcgiPool naming a pool the pools file does not have
#   VhostFcgiPoolsFile that cannot be read (missing; a directory)
#   an invalid pools file (an unknown key)
#   a malformed URL (fcgi://nohostport, unix:relative) or option
#   VhostFcgiSpawner without VhostFcgiPoolsFile (once only -k start saw it)
#   VhostFcgiPool targets that were accepted and failed later: SetHandler's
#   "unix:...|fcgi://..." form, a path after fcgi://host:port (dropped),
#   connection options on a balancer:// pool (no effect), and a
#   balancer:// that this server does not define (500 at each request)
#   VhostFcgiMaxInFlight numbers out of range, signed or empty
# Each case is a small generated config, checked with "apache2 -t" (what
# "apachectl configtest" runs before a graceful restart) and with a real
# start (-DFOREGROUND), which must both fail.  The last check of each case
# is DESIGN's wording: "a one-line message naming the directive and
# file:line" (httpd's own "Syntax error on line N of FILE:" puts the reason
# on the next line).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);

plan skip_all => 'VF_MODULE=stock: no VhostFcgiPool' if is_stock();

my $httpd = Apache::Test::vars('httpd') || '/usr/sbin/apache2';
my $base = Apache::Test::vars('t_logs') . '/pools_bad_config';
my $user = Apache::Test::vars('user');
my $group = Apache::Test::vars('group');
my $pool_user = $> == 0 ? 'www-data' : scalar getpwuid($>);

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1) or die "bind: $!";
    return $s->sockport;
}
sub slurp { my $f = shift; open my $fh, '<', $f or return ''; local $/; my $t = <$fh>; $t // '' }
sub spew { my ($f, $t) = @_; open my $fh, '>', $f or die "$f: $!"; print $fh $t; close $fh or die "$f: $!" }

my $good_pools = join "\n", '[global]', 'run_dir = BASE', '', '[site-a]',
    'command = /usr/sbin/php-fpm8.2', "user = $pool_user", 'listen = BASE/site-a.sock',
    'pm = static', 'pm.max_children = 2', '';
my $bad_pools = join "\n", '[site-a]', 'command = /usr/sbin/php-fpm8.2',
    "user = $pool_user", 'listen = BASE/site-a.sock', 'bogus.key = 1', '';

# [name, pools file content (or undef: none written), lines for the config
#  (the one ending in "<<" is the culprit), patterns for what is wrong]
my @cases = (
    ['unknown_pool', $good_pools,
     ['VhostFcgiPoolsFile "POOLS"', '<VirtualHost *:PORT>', 'VhostFcgiPool nosuchpool <<', '</VirtualHost>'],
     [qr/nosuchpool/, qr/unknown pool|not in/i]],
    ['missing_pools_file', undef,
     ['VhostFcgiPoolsFile "BASE/no-such-pools.conf" <<', 'VhostFcgiPool site-a'],
     [qr/no-such-pools\.conf/, qr/No such file|cannot (?:open|read)/i]],
    ['pools_file_is_dir', undef,
     ['VhostFcgiPoolsFile "BASE" <<', 'VhostFcgiPool site-a'],
     [qr/pools_file_is_dir/, qr/directory|cannot (?:open|read)|not a (?:regular )?file/i]],
    ['invalid_pools_file', $bad_pools,
     ['VhostFcgiPoolsFile "POOLS" <<', 'VhostFcgiPool site-a'],
     [qr/pools\.conf:5: bogus\.key:/, qr/unknown key/i]],
    ['fcgi_no_port', undef,
     ['VhostFcgiPool fcgi://nohostport <<'],
     [qr/nohostport/]],
    ['unix_relative', undef,
     ['VhostFcgiPool unix:relative.sock <<'],
     [qr/unix:/, qr/absolute/]],
    ['bad_option', undef,
     ['VhostFcgiPool unix:/run/x.sock max=lots <<'],
     [qr/max=lots/]],
    # Checked at a start only (post_config) it passed "apache2 -t", so
    # "configtest && graceful" took a running server down.
    ['spawner_no_pools_file', undef,
     ['VhostFcgiSpawner /bin/true <<'],
     [qr/VhostFcgiSpawner/, qr/needs VhostFcgiPoolsFile/]],
    # SetHandler's syntax, copied: it became a socket path with
    # "|fcgi://localhost" in it (503 "cannot connect" at each request).
    ['unix_sethandler_form', undef,
     ['VhostFcgiPool "unix:/run/x.sock|fcgi://localhost" <<'],
     [qr{unix:/run/x\.sock\|fcgi://localhost}, qr{drop the \|fcgi://\.\.\. part}]],
    ['fcgi_path', undef,
     ['VhostFcgiPool fcgi://127.0.0.1:9/some/dir/ <<'],
     [qr{fcgi://127\.0\.0\.1:9/some/dir/}, qr{path /some/dir/ would be ignored}]],
    ['balancer_max', undef,
     ['<Proxy "balancer://php">', 'BalancerMember fcgi://127.0.0.1:9', '</Proxy>',
      'VhostFcgiPool balancer://php max=4 <<'],
     [qr{'max=4' does not apply to a balancer}, qr{BalancerMember}]],
    ['balancer_idle_timeout', undef,
     ['<Proxy "balancer://php">', 'BalancerMember fcgi://127.0.0.1:9', '</Proxy>',
      'VhostFcgiPool balancer://php idle=2 idle_timeout=5 <<'],
     [qr{'idle=2' does not apply to a balancer}]],
    ['balancer_undefined', undef,
     ['<VirtualHost *:PORT>', 'VhostFcgiPool balancer://nosuch <<', '</VirtualHost>'],
     [qr{balancer://nosuch}, qr{no <Proxy balancer://nosuch>}]],
    # Defined in another <VirtualHost> only: mod_proxy does not find it
    # for this one.
    ['balancer_other_vhost', undef,
     ['<VirtualHost *:PORT>', '<Proxy "balancer://other">',
      'BalancerMember fcgi://127.0.0.1:9', '</Proxy>', '</VirtualHost>',
      '<VirtualHost *:PORT>', 'VhostFcgiPool balancer://other <<', '</VirtualHost>'],
     [qr{balancer://other}, qr{no <Proxy balancer://other>}]],
    ['inflight_negative_zero', undef,
     ['VhostFcgiMaxInFlight 3 queue=-0 <<'],
     [qr{queue=-0}]],
    ['inflight_empty_queue', undef,
     ['VhostFcgiMaxInFlight 3 queue= <<'],
     [qr{'queue='}, qr{0\.\.100000}]],
    ['inflight_huge_wait', undef,
     ['VhostFcgiMaxInFlight 3 queue=2 wait=99999999999999 <<'],
     [qr{wait=99999999999999}, qr{0\.\.3600}]],
    ['inflight_huge_max', undef,
     ['VhostFcgiMaxInFlight 99999999999 <<'],
     [qr{99999999999}, qr{1\.\.100000}]],
    # The rest of the module's directives answer in one line too.
    ['script_owner', undef,
     ['VhostFcgiScriptOwner nobody <<'],
     [qr{VhostFcgiScriptOwner takes any or pool, not 'nobody'}]],
    ['extension', undef,
     ['VhostFcgiExtensions php <<'],
     [qr{VhostFcgiExtensions: 'php' is not an extension}]],
    # httpd has no comment after a directive.  These words reached the
    # spawner as arguments: "apache2 -t" said Syntax OK, the spawner
    # exited with a usage error, and httpd restarted it every 2 s.
    ['spawner_comment', $good_pools,
     ['VhostFcgiPoolsFile "POOLS"',
      'VhostFcgiSpawner /usr/sbin/vhostfcgi-spawn # httpd runs it <<'],
     [qr{VhostFcgiSpawner: '#' is no argument}, qr{comments on lines of their own}]],
    ['pool_comment', undef,
     ['VhostFcgiPool unix:/run/x.sock # the site <<'],
     [qr{bad option '#'}, qr{comments on lines of their own}]],
);
plan tests => 5 * @cases;

# Runs httpd; returns (exit code, output).  A server that does start is
# stopped after $wait seconds: (undef, output).
sub run_httpd {
    my ($dir, $wait, @args) = @_;
    my $out = "$dir/output";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $out or die;
        open STDERR, '>&', \*STDOUT or die;
        { exec $httpd, '-d', $dir, '-f', "$dir/httpd.conf", @args };
        POSIX::_exit(127);
    }
    my $deadline = time + $wait;
    while (time < $deadline) {
        return ($? >> 8, slurp($out)) if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'TERM', $pid;
    waitpid($pid, 0);
    return (undef, slurp($out));
}

sub all_match {
    my ($text, @pats) = @_;
    return !grep { $text !~ $_ } @pats;
}

for my $c (@cases) {
    my ($name, $pools, $lines, $pats) = @$c;
    my $dir = "$base/$name";
    remove_tree($dir);
    make_path($dir);
    my $pools_file = "$dir/pools.conf";
    if (defined $pools) {
        (my $p = $pools) =~ s/BASE/$dir/g;
        spew($pools_file, $p);
    }
    my $port = free_port();
    my @conf = VhostFcgi::Test::load_module_lines(VhostFcgi::Test::fcgi_module());
    push @conf, "ServerRoot \"$dir\"", 'ServerName localhost', "Listen 127.0.0.1:$port",
        "PidFile \"$dir/httpd.pid\"", "ErrorLog \"$dir/error_log\"",
        "DefaultRuntimeDir \"$dir\"", 'TypesConfig /dev/null', 'LogLevel warn';
    push @conf, "User $user", "Group $group" if $> == 0;
    my $culprit;
    for my $l (@$lines) {
        (my $line = $l) =~ s/POOLS/$pools_file/g;
        $line =~ s/BASE/$dir/g;
        $line =~ s/PORT/$port/g;
        $culprit = @conf + 1 if $line =~ s/\s*<<$//;
        push @conf, $line;
    }
    my $conf = "$dir/httpd.conf";
    spew($conf, join("\n", @conf) . "\n");

    my ($rc_t, $out_t) = run_httpd($dir, 30, '-t');
    ok(defined $rc_t && $rc_t != 0, "$name: apache2 -t refuses the config")
        or diag("apache2 -t: exit " . ($rc_t // 'none') . ": $out_t");
    unlink "$dir/error_log";
    my ($rc_s, $out_s) = run_httpd($dir, 15, '-DFOREGROUND');
    $out_s .= slurp("$dir/error_log");
    ok(defined $rc_s && $rc_s != 0, "$name: httpd refuses to start")
        or diag("start: exit " . ($rc_s // 'none: it was running') . ": $out_s");

    # The lines naming the culprit, in what -t and the start said.
    my $where = qr/\Q$conf\E:$culprit\b|line $culprit of \Q$conf\E/;
    my @text = split /\n/, "$out_t\n$out_s";
    my @located = grep { $_ =~ $where } @text;
    ok(@located >= 1, "$name: a line names $conf:$culprit")
        or diag("output:\n" . join "\n", @text);
    # What is wrong: on that line, or (httpd's "Syntax error on line N of
    # FILE:") on the line right after it.
    my @said;
    for my $i (0 .. $#text) {
        next unless $text[$i] =~ $where;
        push @said, $text[$i];
        push @said, "$text[$i]\n$text[$i + 1]" if $text[$i] =~ /:\s*$/ && $i < $#text;
    }
    my %seen;
    @said = grep { !$seen{$_}++ } @said;
    ok((grep { all_match($_, @$pats) } @said),
       "$name: and says what is wrong (" . join(', ', @$pats) . ')')
        or diag("located lines:\n" . join("\n", @said) . "\noutput:\n" . join "\n", @text);
    my ($directive) = $conf[$culprit - 1] =~ /^\s*(\S+)/;
    my @one = grep { !/\n/ && /\Q$directive\E/ && all_match($_, @$pats) } @said;
    ok(@one >= 1, "$name: directive, file:line and reason on one line")
        or diag("DESIGN: \"a one-line message naming the directive and file:line\"; got:\n"
                . join("\n", @said));
    note("$name: $_") for grep { /\S/ } @text;
}

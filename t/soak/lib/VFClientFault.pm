package VFClientFault;

# The setting of the client-fault tests (t/clientfault/*.t): one httpd with
# two vhosts, each on a pool with pooled (FCGI_KEEP_CONN) connections:
#
#   mbh.test  VhostFcgiPool unix:DIR/run/mbh.sock max=3, in front of
#             fcgi-misbehave (echo, stats, big, sleep), whose counters of
#             begun and completed requests are checked exactly;
#   php.test  VhostFcgiPool php: a spawner pool (httpd runs the spawner) of
#             3 static php-cgi workers running echo.php and big.php.
#
# normal() sends a request that must be answered 200 with the right body
# (a GET, or a POST whose length and checksum the backend echoes); the
# faults themselves are sent by the tests with VFSoak::Client.  Each test
# keeps its own expectations of the misbehave counters in $cf->{mbh_*}.

use strict;
use warnings;
use Exporter 'import';
use Digest::MD5 qw(md5_hex);
use Test::More;
use Time::HiRes qw(time sleep);
use VFSoak;

our @EXPORT = qw(cf_setup);

our @BACKENDS = qw(mbh php);

sub cf_setup {
    my (%o) = @_;
    ensure_user($_) for $VFSoak::WEB, $VFSoak::POOL_USERS[0];
    my $dir = test_dir('vfcf');
    my $bins = snapshot_bins($dir);
    mkdir "$dir/$_" for qw(run logs mbh php);
    chmod 0755, "$dir/run", "$dir/mbh", "$dir/php";
    # fcgi-misbehave takes the scenario from the script's name; the files
    # only have to exist for the script check.
    write_file("$dir/mbh/$_.php", "<?php // fcgi-misbehave: $_\n")
        for qw(echo stats big sleep);
    write_file("$dir/php/echo.php", <<'PHP');
<?php
header('Content-Type: text/plain');
$in = file_get_contents('php://input');
echo "id=", $_GET['id'] ?? '', " len=", strlen($in), " md5=", md5($in), "\n";
PHP
    write_file("$dir/php/big.php", <<'PHP');
<?php
header('Content-Type: application/octet-stream');
$chunk = str_repeat('0123456789abcdef', 4096);      // 64 KB
$n = intdiv((int)($_GET['bytes'] ?? 52428800), 65536);
for ($i = 0; $i < $n; $i++) { echo $chunk; flush(); }
PHP
    write_file("$dir/php/sleep.php", <<'PHP');
<?php
usleep((int)($_GET['ms'] ?? 1000) * 1000);
echo "slept\n";
PHP
    my $mbh = misbehave_start(dir => $dir, bin => $bins->{'fcgi-misbehave'},
                              sock => "$dir/run/mbh.sock", args => ['-v']);
    my $pools = <<EOC;
[global]
run_dir   = $dir/run
error_log = $dir/logs/spawn.log

[php]
command = /usr/bin/php-cgi8.2
user = $VFSoak::POOL_USERS[0]
listen.owner = $VFSoak::WEB
listen.group = $VFSoak::WEB
listen.mode = 0660
pm = static
pm.max_children = 3
env[SOAK_POOL] = \$pool
EOC
    my $h = httpd_start(
        dir => $dir, bins => $bins, pools => $pools, spawner => 1,
        timeout => 20, loglevel => 'warn vhostfcgi:info',
        vhosts => [
            { name => 'mbh.test', root => "$dir/mbh",
              pool => "unix:$dir/run/mbh.sock max=3" },
            { name => 'php.test', root => "$dir/php", pool => 'php' },
        ],
    );
    my $cf = bless { dir => $dir, h => $h, mbh => $mbh, seq => 0,
                     mbh_sent => 0, mbh_open => 0, mbh_maybe => 0, normal_ok => 0,
                     normal_bad => 0,
                     client => VFSoak::Client->new(port => $h->{port},
                                                   timeout => 30) },
                   __PACKAGE__;
    my $sp = spawner_of($h);
    wait_for(sub { pool_workers($sp, 'php') == 3 }, 10)
        or diag 'php pool: not 3 workers yet';
    $cf->{kids} = [ httpd_children($h) ];
    return $cf;
}

sub port { $_[0]{h}{port} }
sub h    { $_[0]{h} }
sub host { "$_[1].test" }

# A new client connection (for faults, or a second client).
sub client {
    my ($self, %o) = @_;
    return VFSoak::Client->new(port => $self->port, timeout => $o{timeout}
                               // 30);
}

sub _sum32 { unpack('%32C*', $_[0]) }

# What the backend must answer to a request with this id and body.
sub expected {
    my ($self, $be, $id, $body) = @_;
    $body //= '';
    if ($be eq 'php') {
        return "id=$id len=" . length($body) . " md5=" . md5_hex($body) . "\n";
    }
    return qr/^QUERY_STRING=id=$id\n(?s:.*)^STDIN_BYTES=@{[ length $body ]}\n
              STDIN_SUM=@{[ _sum32($body) ]}\n\z/mx;
}

sub body_ok {
    my ($self, $be, $r, $id, $body) = @_;
    my $want = $self->expected($be, $id, $body);
    return ref $want ? $r->{body} =~ $want : $r->{body} eq $want;
}

# One normal request on the test's keep-alive client (or $o{client}): a GET
# or (post => N) a POST of N random bytes.  Returns 1 when the answer is
# 200 with the right body; otherwise diag()s why.
sub normal {
    my ($self, $be, %o) = @_;
    my $id = ++$self->{seq};
    my $c = $o{client} // $self->{client};
    my $body;
    if ($o{post}) {
        $body = join '', map { chr rand 256 } 1 .. ($o{post} < 4096
                                                    ? $o{post} : 4096);
        $body = substr($body x (1 + int($o{post} / length $body)), 0,
                       $o{post});
    }
    my $r = $c->request(host => $self->host($be),
                        path => "/echo.php?id=$id", body => $body,
                        chunked => $o{chunked});
    $self->{mbh_sent}++ if $be eq 'mbh';
    my $ok = $r->{complete} && $r->{status} == 200
             && $self->body_ok($be, $r, $id, $body);
    if ($ok) {
        $self->{normal_ok}++;
    }
    else {
        $self->{normal_bad}++;
        diag sprintf "%s normal request %d (%s): status %s, error %s, body %s",
            $be, $id, $body ? length($body) . ' B POST' : 'GET',
            $r->{status} // '-', $r->{error} // '-',
            substr($r->{body} // '', 0, 120);
        $c->close;
    }
    return $ok;
}

# N normal requests on backend $be, alternating GET, small POST, and a POST
# larger than what httpd reads ahead (so it is streamed).  Returns how many
# were answered right.
sub normals {
    my ($self, $be, $n, %o) = @_;
    my $good = 0;
    for my $i (1 .. $n) {
        my $k = ($i + ($o{phase} // 0)) % 3;
        $good += $self->normal($be, $k == 0 ? () : $k == 1
                               ? (post => 1 + int rand 8000)
                               : (post => 100_000 + int rand 200_000));
    }
    return $good;
}

# fcgi-misbehave's counters: { accepted, begun, completed }.
sub mbh_stats {
    my ($self) = @_;
    my $r = $self->{client}->request(host => 'mbh.test', path => '/stats.php');
    $self->{mbh_sent}++;
    return undef unless ($r->{status} // 0) == 200;
    my %s = $r->{body} =~ /^(\w+)=(\d+)$/mg;
    return \%s;
}

# The counters must say: every request sent to the backend began there
# exactly once (no retry, no duplicate), and every one completed but those
# cut short by their client.  $self->{mbh_sent}: requests that surely
# reached it; {mbh_open}: those of them cut short; {mbh_maybe}: aborted
# uploads that may or may not have reached it (the client left before
# httpd had read anything of the body) - each one that did is cut short.
sub check_mbh_counters {
    my ($self, $what) = @_;
    my $s = $self->mbh_stats or return fail("$what: stats request failed");
    my ($sent, $open, $maybe) = @$self{qw(mbh_sent mbh_open mbh_maybe)};
    $maybe //= 0;
    my $extra = $s->{begun} - $sent;
    my $ok = ok($extra >= 0 && $extra <= $maybe,
                "$what: misbehave began $s->{begun} requests: the $sent sent "
                . "to it, and $extra of $maybe aborted uploads")
        or diag explain $s;
    $ok &= is($s->{completed}, $s->{begun} - 1 - $open - $extra,
              "$what: and completed all but the " . ($open + $extra)
              . " cut short by their client (and the stats request itself)");
    cmp_ok($s->{accepted}, '<=', $s->{begun},
           "$what: $s->{accepted} connections for $s->{begun} requests");
    return $ok;
}

# The status page: no errors counted, nothing left busy or waiting.
sub check_status {
    my ($self, $what, %allow) = @_;
    my $st;
    # Requests still finishing on another thread: give them a moment.
    wait_for(sub {
        $st = status_json($self->h, 'php.test') or return 0;
        !grep { $_->{busy} || $_->{waiting} || $_->{queued_at_backend} || $_->{inflight} }
            values %$st;
    }, 5, 0.1);
    ok($st, "$what: status page") or return;
    for my $name (sort keys %$st) {
        my $p = $st->{$name};
        my $e = $p->{errors};
        my $be = $name eq 'php' ? 'php' : 'mbh';
        my $bad = $e->{bad_gateway} + $e->{timeout} + $e->{connect}
                  + $e->{admission};
        is($bad, 0, "$what: $be pool: no 502/503/504 counted")
            or diag explain $p;
        cmp_ok($e->{broken}, '<=', $allow{"${be}_broken"} // 0,
               "$what: $be pool: responses cut off ($e->{broken}) only "
               . "where the client went away");
        ok(!$p->{busy} && !$p->{waiting} && !$p->{queued_at_backend}
           && !$p->{inflight} && $p->{open} <= $p->{max_conns},
           "$what: $be pool: nothing busy or waiting, $p->{open} open of "
           . "max $p->{max_conns}, $p->{reused} reused")
            or diag explain $p;
    }
    return $st;
}

# Error-log lines (warn and above) since $from, minus those matching the
# allowed patterns; the rest fail the test.
sub check_log {
    my ($self, $what, $from, @allow) = @_;
    my @lines = grep { /\[(?:[\w:]*)(?:warn|error|crit|alert|emerg)\]/ }
                split /\n/, log_since($self->h->{errlog}, $from);
    my @bad = grep { my $l = $_; !grep { $l =~ $_ } @allow } @lines;
    ok(!@bad, "$what: no unexpected error-log lines ("
       . scalar(@lines) . " expected ones)")
        or diag join "\n", splice(@bad, 0, 10);
    return scalar @lines;
}

sub log_pos { log_size($_[0]->h->{errlog}) }

# How many error-log lines since $from match $re.
sub count_log {
    my ($self, $from, $re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, log_since($self->h->{errlog}, $from);
}

# A client's aborted upload: the module logs it once, at info, as the
# client's doing (never at warn or above, never as a backend failure).
our $ABORTED_READ = qr/\[vhostfcgi:info\].*reading the request body from the client failed/;

# httpd's children never died and still serve.
sub check_alive {
    my ($self, $what) = @_;
    my @crash = crash_lines(read_file($self->h->{errlog}));
    ok(!@crash, "$what: no httpd child crashed")
        or diag join "\n", splice(@crash, 0, 5);
    is(join(',', httpd_children($self->h)), join(',', @{ $self->{kids} }),
       "$what: httpd's children are the same processes");
    ok(kill(0, $self->{mbh}{pid}), "$what: fcgi-misbehave still running");
}

1;

#!/usr/bin/perl
# bench/report.pl RAW NOTES - the Markdown report of bench/run.
#
# RAW has one line per run (tab-separated):
#   round id ok requests duration_us p99_us http_errors sock_errors rss_kb
#       fe_ticks be_ticks be_accepts be_requests conns
#   round id fail
# The rest of the context comes from the environment bench/run exports.
use strict;
use warnings;

my ($raw, $notes) = @ARGV;
my $tck = $ENV{CLK_TCK} || 100;
my (%runs, %fails, @order);

open(my $fh, '<', $raw) or die "$raw: $!\n";
while (<$fh>) {
    chomp;
    my @f = split /\t/;
    next unless @f >= 3;
    my ($round, $id, $st) = @f;
    push @order, $id unless exists $runs{$id} || exists $fails{$id};
    if ($st eq 'ok') {
        my %r;
        @r{qw(requests dur p99 http sock rss fe be acc bereq conns)} = @f[3 .. 13];
        $r{rps} = $r{dur} > 0 ? $r{requests} / ($r{dur} / 1e6) : 0;
        push @{ $runs{$id} }, \%r;
        $fails{$id} //= 0;
    }
    else {
        $fails{$id}++;
        $runs{$id} //= [];
    }
}
close $fh;

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

my %agg;
for my $id (keys %runs) {
    my @r = @{ $runs{$id} };
    my %a = (n => scalar @r, fails => $fails{$id} || 0);
    if (@r) {
        my @rps = map { $_->{rps} } @r;
        $a{rps} = median(@rps);
        ($a{min}, $a{max}) = (sort { $a <=> $b } @rps)[0, -1];
        $a{p99} = median(map { $_->{p99} } @r);
        $a{http} = 0; $a{sock} = 0; $a{req} = 0; $a{fe} = 0; $a{be} = 0;
        $a{acc} = 0; $a{bereq} = 0;
        for (@r) {
            $a{http} += $_->{http}; $a{sock} += $_->{sock};
            $a{req} += $_->{requests};
            $a{fe} += $_->{fe} if $_->{fe} ne '-';
            $a{be} += $_->{be} if $_->{be} ne '-';
            $a{acc} += $_->{acc}; $a{bereq} += $_->{bereq};
        }
        $a{rss} = median(map { $_->{rss} } grep { $_->{rss} ne '-' } @r);
        $a{has_fe} = grep { $_->{fe} ne '-' } @r;
        $a{conns} = $r[0]{conns};
    }
    $agg{$id} = \%a;
}

my %fe_name = (
    A0 => 'A0 httpd static file, defaults (EnableMMAP On)',
    A0m => 'A0m httpd static file, EnableMMAP Off',
    A1 => 'A1 stock mod_proxy_fcgi, default',
    A2 => 'A2 stock mod_proxy_fcgi, enablereuse=on',
    V1 => 'V1 mod_vhostfcgi, VhostFcgiPool',
    V2 => 'V2 mod_vhostfcgi, drop-in SetHandler',
    N  => 'N nginx, keepalive 32 + fastcgi_keep_conn',
    B  => 'B backend alone (fcgi-load)',
);
my %be_name = (hello => 'fcgi-hello', fpm => 'php-fpm', static => '—');

sub fmt_rps { my $v = shift; return defined $v ? sprintf('%.0f', $v) : '—' }

sub ratio {
    my ($id) = @_;
    my ($fe, $bt) = $id =~ m{^(\w+)/(.*)$};
    my $base = $bt eq 'static' ? 'A1/hello/unix' : "A1/$bt";
    return '—' unless $agg{$base} && defined $agg{$base}{rps} && $agg{$base}{rps} > 0
        && defined $agg{$id}{rps};
    return sprintf('%.2f', $agg{$id}{rps} / $agg{$base}{rps});
}

my @rows = sort {
    my ($fa, $ba) = $a =~ m{^(\w+)/(.*)$};
    my ($fb, $bb) = $b =~ m{^(\w+)/(.*)$};
    my %bo = ('static' => 0, 'hello/unix' => 1, 'hello/tcp' => 2, 'fpm/unix' => 3, 'fpm/tcp' => 4);
    my %fo = (A0 => 0, A0m => 0.5, A1 => 1, A2 => 2, V1 => 3, V2 => 4, N => 5, B => 6);
    ($bo{$ba} // 9) <=> ($bo{$bb} // 9) || ($fo{$fa} // 9) <=> ($fo{$fb} // 9)
} keys %agg;

my $out = '';
$out .= "# mod_vhostfcgi benchmark\n\n";
$out .= "- date: " . localtime() . "\n";
$out .= "- command: `$ENV{CMD}` (wall time $ENV{ELAPSED} s)\n";
$out .= "- code: git $ENV{GIT_REV}$ENV{GIT_DIRTY}; $ENV{MOD_NOTE}\n";
$out .= "- machine: $ENV{MACHINE}, after $ENV{LOAD_AFTER}\n";
$out .= "- software: $ENV{VERSIONS}\n";
$out .= "- load: wrk -t$ENV{THREADS} -c$ENV{CONNS} -d$ENV{SECS}s (keep-alive) per run after a warm-up; "
      . "$ENV{ROUNDS} rounds, cells alternating (odd rounds forwards, even rounds backwards); "
      . "httpd mpm_event 2 x $ENV{HTTPD_THREADS} threads, nginx 2 workers, no access logs; "
      . "fcgi-hello $ENV{HELLO_PROCS} processes; php-fpm pm=static, $ENV{FPM_CHILDREN} children\n";
$out .= "- V1 is `VhostFcgiPool URL" . ($ENV{V1_HELLO_OPTS} ? " $ENV{V1_HELLO_OPTS}" : '') . "` on fcgi-hello and `VhostFcgiPool URL"
      . ($ENV{V1_FPM_OPTS} ? " $ENV{V1_FPM_OPTS}" : '') . "` on php-fpm\n\n";

$out .= "| row | backend | req/s median (min–max) | × A1 | p99 ms | errors | FE RSS MB | FE CPU s/1k req | BE CPU s/1k req | BE conns/1k req |\n";
$out .= "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
for my $id (@rows) {
    my $a = $agg{$id};
    my ($fe, $bt) = $id =~ m{^(\w+)/(.*)$};
    my ($be, $tr) = split m{/}, $bt;
    my $backend = $bt eq 'static' ? '— (hello.txt)' : "$be_name{$be} $tr";
    $backend .= " (c=$a->{conns})" if $fe eq 'B' && $a->{conns};
    if (!$a->{n}) {
        $out .= "| $fe_name{$fe} | $backend | failed ($a->{fails}/$a->{fails} runs) | — | — | — | — | — | — | — |\n";
        next;
    }
    my $rps = sprintf('%s (%s–%s)', fmt_rps($a->{rps}), fmt_rps($a->{min}), fmt_rps($a->{max}));
    $rps .= " **$a->{fails} run(s) failed**" if $a->{fails};
    my $err = $a->{http} + $a->{sock};
    my $errs = $err ? "**$err** (http $a->{http}, sock $a->{sock})" : '0';
    my $rss = defined $a->{rss} ? sprintf('%.1f', $a->{rss} / 1024) : '—';
    my $fecpu = $a->{has_fe} && $a->{req} ? sprintf('%.3f', $a->{fe} / $tck / $a->{req} * 1000) : '—';
    my $becpu = $bt ne 'static' && $a->{req} ? sprintf('%.3f', $a->{be} / $tck / $a->{req} * 1000) : '—';
    my $conns = $be && $a->{bereq} ? sprintf('%.1f', $a->{acc} / $a->{bereq} * 1000) : '—';
    $out .= sprintf("| %s | %s | %s | %s | %.2f | %s | %s | %s | %s | %s |\n",
        $fe_name{$fe}, $backend, $rps, ratio($id), $a->{p99} / 1000, $errs, $rss, $fecpu, $becpu, $conns);
}

# ---- targets (issue 4) -------------------------------------------------
sub rps_of { my $id = shift; return $agg{$id} && $agg{$id}{n} ? $agg{$id}{rps} : undef }

my @t;
sub target_ratio {
    my ($what, $id, $base, $need) = @_;
    my ($x, $y) = (rps_of($id), rps_of($base));
    my $info = $what =~ s/^\(info\) //;
    if (!defined $x || !defined $y || !$y) {
        push @t, "SKIP  $what (not measured: " . (!defined $x ? $id : $base) . ")";
        return;
    }
    my $r = $x / $y;
    my $ok = $r >= $need;
    $ok &&= !$agg{$id}{fails};
    push @t, sprintf("%s  %s: %.0f / %.0f = %.2f (%s >= %.2f)%s",
        $info ? 'INFO' : $ok ? 'PASS' : 'FAIL', $what, $x, $y, $r,
        $info ? ($ok ? 'met:' : 'not met:') : 'need',
        $need, $agg{$id}{fails} ? "; $agg{$id}{fails} run(s) failed" : '');
}
target_ratio('V1 fcgi-hello unix >= 1.3 x A1 (stock default)', 'V1/hello/unix', 'A1/hello/unix', 1.3);
target_ratio('V1 fcgi-hello unix >= 1.05 x A2 (stock enablereuse=on)', 'V1/hello/unix', 'A2/hello/unix', 1.05);
target_ratio('V1 fcgi-hello unix within 15% of A0 (static file)', 'V1/hello/unix', 'A0/static', 0.85);
target_ratio('(info) V1 fcgi-hello unix within 15% of A0m (static, EnableMMAP Off)', 'V1/hello/unix', 'A0m/static', 0.85);
target_ratio('V1 php-fpm unix >= 1.3 x A1', 'V1/fpm/unix', 'A1/fpm/unix', 1.3);
target_ratio('V1 php-fpm tcp >= 1.3 x A1', 'V1/fpm/tcp', 'A1/fpm/tcp', 1.3);
for my $fe (qw(V1 V2)) {
    my @ids = grep { m{^$fe/} } @rows;
    if (!@ids) { push @t, "SKIP  zero errors in every $fe run (not measured)"; next; }
    my ($e, $f, @bad) = (0, 0);
    for (@ids) {
        my $n = $agg{$_}{http} // 0; $n += $agg{$_}{sock} // 0;
        $e += $n; $f += $agg{$_}{fails};
        push @bad, "$_: $n errors" . ($agg{$_}{fails} ? ", $agg{$_}{fails} failed runs" : '') if $n || $agg{$_}{fails};
    }
    push @t, sprintf("%s  zero errors in every %s run%s", ($e || $f) ? 'FAIL' : 'PASS', $fe,
        @bad ? ' (' . join('; ', @bad) . ')' : '');
}
for my $bt (qw(hello/unix hello/tcp fpm/unix fpm/tcp)) {
    my ($v, $s) = ($agg{"V1/$bt"}, $agg{"A1/$bt"});
    if (!$v || !$v->{n} || !$s || !$s->{n}) { push @t, "SKIP  V1 p99 <= A1 p99, $bt (not measured)"; next; }
    push @t, sprintf("%s  V1 p99 <= A1 p99, %s: %.2f ms vs %.2f ms", $v->{p99} <= $s->{p99} ? 'PASS' : 'FAIL',
        $bt, $v->{p99} / 1000, $s->{p99} / 1000);
}

$out .= "\n## Targets (issue 4) — a report, not a test\n\n```\n" . join("\n", @t) . "\n```\n";

# ---- how far from nginx ------------------------------------------------
my @n;
for my $bt (qw(hello/unix hello/tcp fpm/unix fpm/tcp)) {
    my ($v, $x) = (rps_of("V1/$bt"), rps_of("N/$bt"));
    next unless defined $v && defined $x && $x;
    my $line = sprintf("%-10s V1 %.0f req/s = %.2f x nginx (%.0f)", $bt, $v, $v / $x, $x);
    my ($vc, $nc) = ($agg{"V1/$bt"}, $agg{"N/$bt"});
    if ($vc->{has_fe} && $nc->{has_fe} && $vc->{req} && $nc->{req} && $nc->{fe}) {
        my $a = $vc->{fe} / $tck / $vc->{req} * 1e6;
        my $b = $nc->{fe} / $tck / $nc->{req} * 1e6;
        $line .= sprintf("; front-end CPU %.0f us/req vs %.0f us/req (%.2f x)", $a, $b, $a / $b);
    }
    push @n, $line;
}
$out .= "\n## V1 against nginx\n\n```\n" . join("\n", @n) . "\n```\n" if @n;

# ---- notes -------------------------------------------------------------
if (open(my $nf, '<', $notes)) {
    my @lines = <$nf>;
    close $nf;
    if (@lines) {
        $out .= "\n## Notes from the runs\n\n";
        $out .= "- $_" for @lines;
    }
}
print $out;

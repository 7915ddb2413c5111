#!/usr/bin/perl
# BalancerMember lines that mod_proxy would merge stop httpd at startup.
#
# mod_proxy finds a balancer's members by what follows "unix:PATH|", by
# longest prefix: "unix:/a.sock|fcgi://localhost" and then
# "unix:/b.sock|fcgi://localhost" are one member (AH01149, at LogLevel
# info only), and b.sock never gets a request, nor takes over when a.sock
# is down.  apache2 -t must refuse such a line, naming its file and line,
# both members and the advice; lines naming one backend twice, and members
# with names of their own, pass.  Then a real start of the advised form:
# two Unix-socket members named fcgi://a and fcgi://b, each a
# t/bin/fcgi-misbehave, both get requests.  No namespaces, no php-fpm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use VfBal;

plan skip_all => 'needs root (httpd with User www-data)' if $> != 0;
plan skip_all => 'build/bin/fcgi-misbehave missing: run make first'
    unless -x repo_dir() . '/build/bin/fcgi-misbehave';

my $bed = VfBal->new;
my $dir = $bed->dir;
write_file("$dir/htdocs/echo.php", "<?php // fcgi-misbehave\n");

my ($a_sock, $b_sock) = ("$dir/a.sock", "$dir/b.sock");

# A configuration whose balancer section is $bal (and $extra at the end);
# returns (path, number of the first line matching the regex $mark, or 0).
my $count = 0;
sub conf_with {
    my ($bal, $extra, $mark) = @_;
    my $text = $bed->httpd_conf_text(balancer => $bal, extra => $extra // '');
    my $path = write_file("$dir/test" . ++$count . '.conf', $text);
    my ($line, $i) = (0, 0);
    for (split /\n/, $text) {
        $i++;
        if (defined $mark && !$line && /$mark/) {
            $line = $i;
        }
    }
    return ($path, $line);
}

sub proxy_of {
    return "<Proxy balancer://php>\n"
         . join('', map { "    BalancerMember $_\n" } @_) . "</Proxy>\n";
}

# Accepted: each member a backend of its own, or one backend named twice.
my @good = (
    [ 'two sockets, each its own name',
      proxy_of("unix:$a_sock|fcgi://a", "unix:$b_sock|fcgi://b") ],
    [ 'one socket named twice',
      proxy_of("unix:$a_sock|fcgi://localhost",
               "unix:$a_sock|fcgi://localhost/") ],
    [ 'TCP members on two ports',
      proxy_of('fcgi://127.0.0.1:9001', 'fcgi://127.0.0.1:9002') ],
    [ 'one TCP member named twice',
      proxy_of('fcgi://127.0.0.1:9001', 'fcgi://127.0.0.1:9001/') ],
);
for my $case (@good) {
    my ($name, $bal) = @$case;
    my ($path) = conf_with($bal);
    my ($rc, $out) = run_cmd(httpd_bin(), '-t', '-f', $path);
    is($rc, 0, "accepted: $name") or diag($out);
}

# Refused: [name, balancer text, extra text, the merged line, the member
# it would merge into, the backend that would get nothing].
my @bad = (
    [ 'two sockets named fcgi://localhost',
      proxy_of("unix:$a_sock|fcgi://localhost",
               "unix:$b_sock|fcgi://localhost"), '',
      "unix:$b_sock|fcgi://localhost", "unix:$a_sock|fcgi://localhost",
      $b_sock ],
    [ 'the second name longer (mod_proxy matches by prefix)',
      proxy_of("unix:$a_sock|fcgi://localhost",
               "unix:$b_sock|fcgi://localhost/x"), '',
      "unix:$b_sock|fcgi://localhost/x", "unix:$a_sock|fcgi://localhost",
      $b_sock ],
    [ 'no host after the scheme (mod_proxy reads fcgi://localhost)',
      proxy_of("unix:$a_sock|fcgi://", "unix:$b_sock|fcgi:"), '',
      "unix:$b_sock|fcgi:", "unix:$a_sock|fcgi://localhost", $b_sock ],
    [ 'a TCP member after a socket of the same name',
      proxy_of("unix:$a_sock|fcgi://127.0.0.1:9001",
               'fcgi://127.0.0.1:9001'), '',
      'fcgi://127.0.0.1:9001', "unix:$a_sock|fcgi://127.0.0.1:9001",
      'fcgi://127.0.0.1:9001' ],
    [ 'outside <Proxy>, with the balancer named on the line',
      "BalancerMember balancer://php unix:$a_sock|fcgi://localhost\n"
      . "BalancerMember balancer://php unix:$b_sock|fcgi://localhost "
      . "loadfactor=2\n", '',
      "unix:$b_sock|fcgi://localhost", "unix:$a_sock|fcgi://localhost",
      $b_sock ],
    [ "a <VirtualHost>'s own balancer",
      proxy_of('fcgi://127.0.0.1:9001'),
      "<VirtualHost 127.0.0.1:1>\n    <Proxy balancer://inner>\n"
      . "        BalancerMember unix:$a_sock|fcgi://localhost\n"
      . "        BalancerMember unix:$b_sock|fcgi://localhost\n"
      . "    </Proxy>\n</VirtualHost>\n",
      "unix:$b_sock|fcgi://localhost", "unix:$a_sock|fcgi://localhost",
      $b_sock ],
);
for my $case (@bad) {
    my ($name, $bal, $extra, $merged, $into, $lost) = @$case;
    my ($path, $line) = conf_with($bal, $extra,
        qr/^\s*BalancerMember\s+(?:balancer:\S+\s+)?\Q$merged\E(?:\s|$)/);
    my ($rc, $out) = run_cmd(httpd_bin(), '-t', '-f', $path);
    subtest "refused: $name" => sub {
        isnt($rc, 0, 'apache2 -t exits non-zero');
        like($out, qr/^(?:AH\d+: )?\Q$path\E:\Q$line\E: BalancerMember \Q$merged\E: /m,
             "one line naming $path:$line and the member");
        like($out, qr/would take it for \Q$into\E/, "names $into");
        like($out, qr/\Q$lost\E would never get a request/,
             "says $lost would get nothing");
        like($out, qr/give each Unix-socket member a name of its own/,
             'says what to do');
        diag("apache2 -t (exit $rc):\n" . join '', map { "  | $_\n" }
             split /\n/, $out) if $rc == 0;
    };
}

# The advised form, started for real: both sockets answer requests.
$bed->start_misbehave($_) for $a_sock, $b_sock;
$bed->start_httpd_with(proxy_of("unix:$a_sock|fcgi://a",
                                 "unix:$b_sock|fcgi://b"));
{
    my $ua = HTTP::Tiny->new(timeout => 10);
    my (%by, $ok);
    for my $n (1 .. 20) {
        my $res = $ua->get($bed->url("/echo.php?n=$n"),
                           { headers => { 'X-Req-Id' => "r$n" } });
        $ok++ if $res->{status} == 200;
    }
    $bed->stop_httpd;
    for (split /\n/, VfBal::slurp($bed->access_log)) {
        my (undef, $st, $worker) = split ' ';
        $by{$worker}++ if $st == 200;
    }
    subtest 'two Unix-socket members named apart both serve' => sub {
        is($ok // 0, 20, '20 requests answered 200');
        for my $w (qw(fcgi://a fcgi://b)) {
            ok(($by{$w} // 0) >= 5, "$w served " . ($by{$w} // 0)
                                    . ' of them (byrequests: 10)');
        }
        diag('by member: ' . join(', ', map { "$_ $by{$_}" } sort keys %by));
    };
}

done_testing;

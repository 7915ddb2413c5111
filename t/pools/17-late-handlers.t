# A tenant's .htaccess can set a handler after the script check has run:
# mod_rewrite applies [H=] and [T=] at the end of the fixups, and a type
# (AddType) stands in for a handler where none is set.  None of these
# may reach a backend past the check, or another site's socket:
#  - RewriteRule [H=vhostfcgi-pool] on a GIF: checked again, and served
#    as the GIF it is; its PHP never runs;
#  - RewriteRule [H=proxy:unix:<site B>|fcgi://...] on a script: the pool
#    wins, as for a SetHandler: it runs as site A;
#  - AddType "proxy:unix:<site B>|fcgi://..." on a .txt, and RewriteRule
#    [P] to "unix:<site B>|fcgi://.../s.php": 403, the error log says why;
#  - MultiViews (whose subrequest for who.php passed the check) with a
#    rewrite [P,NS,H=vhostfcgi-pool] to the GIF: 403, never run.
# The configuration's own [H=] (server context) serves a script, and so
# does its per-directory [P], also where a tenant's .htaccess without
# rewrite directives takes part; one with them (also inside <If>) may
# have replaced the rules: 403.
# ProxyFCGISetEnvIf in .htaccess may not say which file runs: a
# SCRIPT_FILENAME or DOCUMENT_ROOT it sets is ignored, with a log line.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 2 + 5 * 3 + 2 + 4 * 3 + 2 * 4;

my $doc = site_doc('a');
my $a_sock = $ENV{VF_SITE_A_SOCK};
my $b_sock = $ENV{VF_SITE_B_SOCK};
my $b_doc = site_doc('b');
my $a_uid = getpwnam($ENV{VF_SITE_A_USER} // '') // -1;
my $b_uid = getpwnam($ENV{VF_SITE_B_USER} // '') // -1;
my $ht = "$doc/tenant-late/.htaccess";

sub with_htaccess {
    my ($text, $code, $file) = @_;
    my $ht = $file // $ht;
    open my $fh, '>', $ht or die "$ht: $!";
    print $fh $text;
    close $fh;
    chmod 0644, $ht;
    my @r = eval { $code->() };
    my $err = $@;
    unlink $ht;
    die $err if $err;
    return @r;
}

{
    my ($res, $env) = get_env('vf_site_a', '/tenant-late/who.php');
    is($res->{status}, 200, 'no .htaccess: who.php runs');
    is($env->{X_UID}, $a_uid, '... as site A');
}

# [what, .htaccess, path, what must not show, status, the log's line]
my @cases = (
    ['RewriteRule [H=vhostfcgi-pool] on a GIF',
     qq{RewriteEngine On\nRewriteRule "\\.gif\$" "-" [H=vhostfcgi-pool]\n},
     '/tenant-late/evil.gif', qr/EVIL-EXECUTED/, 200, qr/^(?!.*AH1073)/s],
    ["RewriteRule [H=proxy:unix:<site B>] on a script",
     qq{RewriteEngine On\nRewriteRule "\\.php\$" "-" [H=proxy:unix:$b_sock|fcgi://localhost]\n},
     '/tenant-late/who.php', qr/X_UID=\Q$b_uid\E\n/, 200, qr/^(?!.*AH1073)/s],
    ['AddType proxy:unix:<site B> on a .txt',
     qq{AddType "proxy:unix:$b_sock|fcgi://localhost" .txt\n},
     '/tenant-late/code.txt', qr/TXT-RAN/, 403, qr/AH10735/],
    ['RewriteRule [P] to unix:<site B>',
     qq{RewriteEngine On\nRewriteRule "^p\$" "unix:$b_sock|fcgi://localhost$b_doc/s.php" [P]\n},
     '/tenant-late/p', qr/SCRIPT-RAN/, 403, qr/AH10735/],
    ['MultiViews, then [P,NS,H=vhostfcgi-pool] to the GIF',
     qq{AddType text/html .php\nRewriteEngine On\n}
     . qq{RewriteRule "^who\\.php\$" "unix:$a_sock|fcgi://localhost$doc/tenant-late/evil.gif" [P,NS,H=vhostfcgi-pool]\n},
     '/tenant-late/who', qr/EVIL-EXECUTED/, 403, qr/AH10735/],
);
for my $c (@cases) {
    my ($what, $text, $path, $ran, $status, $log) = @$c;
    my $mark = log_mark();
    my ($res) = with_htaccess($text, sub { raw_request('vf_site_a', 'GET', $path) });
    unlike($res->{body}, $ran, "$what: nothing ran past the check") or diag($res->{body});
    is($res->{status}, $status, "$what: $status");
    like(log_since($mark), $log, "$what: the error log as expected")
        or diag(log_since($mark));
}

{
    my ($res, $env) = get_env('vf_rewrite_h', '/php/env.php');
    is($res->{status}, 200, 'server-context RewriteRule [H=proxy:...]: the script runs')
        or diag($res->{body});
    like($env->{SCRIPT_FILENAME} // '', qr{/php/env\.php$}, '... the checked script');
}

# [the .htaccess (none: undef), status, the log's line]
for my $c ([undef, 200, qr/^(?!.*AH1073)/s],
           [qq{AddType text/plain .txt\n}, 200, qr/^(?!.*AH1073)/s],
           [qq{RewriteEngine On\nRewriteOptions Inherit\n}, 403, qr/AH10735/],
           [qq{<If "true">\nRewriteEngine On\n}
            . qq{RewriteRule "/go\$" "unix:$b_sock|fcgi://localhost$b_doc/s.php" [P]\n</If>\n},
            403, qr/AH10735/]) {
    my ($text, $status, $log) = @$c;
    my $what = 'the configuration\'s <Directory> [P], '
             . (defined $text ? 'with .htaccess ' . ($text =~ s/\n/; /gr) : 'no .htaccess');
    my $mark = log_mark();
    my $get = sub { get_env('vf_site_a', '/tenant-admin-proxy/go') };
    my ($res, $env) = defined $text
        ? with_htaccess($text, $get, "$doc/tenant-admin-proxy/.htaccess") : $get->();
    is($res->{status}, $status, "$what: $status") or diag($res->{body});
    if ($status == 200) {
        like($env->{SCRIPT_FILENAME} // '', qr{/tenant-admin-proxy/who\.php$},
             '... the rule\'s script runs');
    } else {
        unlike($res->{body}, qr/SCRIPT-RAN|X_UID=\Q$b_uid\E\n/, '... nothing ran');
    }
    like(log_since($mark), $log, '... the error log as expected')
        or diag(log_since($mark));
}

for my $c (['SCRIPT_FILENAME', "$doc/tenant-late/evil.gif"],
           ['DOCUMENT_ROOT',   "$doc/tenant-late"]) {
    my ($name, $value) = @$c;
    my $mark = log_mark();
    my ($res, $env) = with_htaccess(qq{ProxyFCGISetEnvIf "true" $name "$value"\n},
                                    sub { get_env('vf_site_a', '/tenant-late/who.php') });
    is($res->{status}, 200, "ProxyFCGISetEnvIf $name in .htaccess: who.php runs")
        or diag($res->{body});
    unlike($res->{body}, qr/EVIL-EXECUTED/, "... not the GIF");
    isnt($env->{$name} // '', $value, "... $name is not the tenant's");
    like(log_since($mark), qr/AH10623: ProxyFCGISetEnvIf in \.htaccess may not set $name/,
         '... the error log says so');
}

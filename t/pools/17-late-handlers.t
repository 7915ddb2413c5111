# A tenant's .htaccess can set a handler after the script check has run:
# mod_rewrite applies [H=] and [T=] at the end of the fixups, and a type
# (AddType, [T=]) becomes the handler where none is set.  None of these
# may reach a backend past the check, or another site's socket:
#  - RewriteRule [H=vhostfcgi-pool] on a GIF: the GIF's PHP never runs;
#  - RewriteRule [H=proxy:unix:<site B>|fcgi://...] on a script: it never
#    runs as site B (403, the error log says why);
#  - AddType "proxy:unix:<site B>|fcgi://..." on a .txt: never run;
#  - RewriteRule [P] to "unix:<site B>|fcgi://.../s.php": never run.
# Nor may ProxyFCGISetEnvIf in .htaccess say which file runs: a
# SCRIPT_FILENAME or DOCUMENT_ROOT it sets is ignored, with a log line,
# and the checked script runs.  Without the .htaccess, who.php runs as
# site A.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 2 + 4 * 3 + 2 * 4;

my $doc = site_doc('a');
my $b_sock = $ENV{VF_SITE_B_SOCK};
my $b_doc = site_doc('b');
my $a_uid = getpwnam($ENV{VF_SITE_A_USER} // '') // -1;
my $b_uid = getpwnam($ENV{VF_SITE_B_USER} // '') // -1;
my $ht = "$doc/tenant-late/.htaccess";

sub with_htaccess {
    my ($text, $code) = @_;
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

my @cases = (
    ['RewriteRule [H=vhostfcgi-pool] on a GIF',
     qq{RewriteEngine On\nRewriteRule "\\.gif\$" "-" [H=vhostfcgi-pool]\n},
     '/tenant-late/evil.gif', qr/EVIL-EXECUTED/],
    ["RewriteRule [H=proxy:unix:<site B>] on a script",
     qq{RewriteEngine On\nRewriteRule "\\.php\$" "-" [H=proxy:unix:$b_sock|fcgi://localhost]\n},
     '/tenant-late/who.php', qr/X_UID=\Q$b_uid\E\b|SCRIPT-RAN/],
    ['AddType proxy:unix:<site B> on a .txt',
     qq{AddType "proxy:unix:$b_sock|fcgi://localhost" .txt\n},
     '/tenant-late/code.txt', qr/TXT-RAN/],
    ['RewriteRule [P] to unix:<site B>',
     qq{RewriteEngine On\nRewriteRule "^p\$" "unix:$b_sock|fcgi://localhost$b_doc/s.php" [P]\n},
     '/tenant-late/p', qr/SCRIPT-RAN/],
);
for my $c (@cases) {
    my ($what, $text, $path, $ran) = @$c;
    my $mark = log_mark();
    my ($res) = with_htaccess($text, sub { raw_request('vf_site_a', 'GET', $path) });
    unlike($res->{body}, $ran, "$what: nothing ran past the check") or diag($res->{body});
    isnt($res->{status}, 200, "$what: not 200 ($res->{status})");
    like(log_since($mark), qr/AH1073[56]/, "$what: the error log says why")
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

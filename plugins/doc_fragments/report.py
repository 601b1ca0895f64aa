# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options that decide how fleet reports compare, mask and cut outputs (used by the fleet_report callback)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  mask_patterns:
    description:
      - Extra regular expressions (Python syntax) whose matches are replaced by C(********) in every output, reason
        and task name before anything is stored, written or printed.
      - If a pattern has a group named C(secret), only that group is masked; for example the pattern
        V(sig=(?P<secret>\\w+\)) masks the value and keeps C(sig=) visible.
      - "The defaults are always applied as well: the value after a key containing C(password), C(passwd),
        C(token), C(secret), C(api_key), C(apikey) or C(api-key) followed by C(=) or C(:), quoted or not (so
        C(DB_PASSWORD=x), C(aws_secret_access_key: x), C(\"client_secret\": \"x\") and C(\"accessToken\": \"x\") too);
        command-line options such as C(--password x) and C(--client-secret x); C(Authorization:) headers of any
        scheme (C(Bearer), C(Basic), ...); AWS access key ids (C(AKIA...)); Azure SAS C(sig=) values and
        C(AccountKey=)/C(SharedAccessKey=) in connection strings; bare JSON Web Tokens (C(eyJ...)); the password of
        C(scheme://user:password@host) URLs; and the body of C(PRIVATE KEY) blocks, to the end of the text when the
        END line is missing."
      - The defaults take time linear in the size of the output, and every output is masked whole before it is
        truncated, so no secret survives by being cut. Your own patterns run as written; avoid
        nested or unbounded repetitions that can backtrack.
      - Given as a comma-separated list in the environment variable and in the ini file, so a pattern cannot contain a
        comma there.
    type: list
    elements: str
    default: []
    env:
      - name: AZLIN_FLEET_MASK_PATTERNS
    ini:
      - section: callback_fleet_report
        key: mask_patterns
    version_added: 0.1.0
  ignore_patterns:
    description:
      - Regular expressions (Python syntax, multi-line mode) whose matches are left out when outputs are compared, for
        example timestamps or PIDs. Hosts whose outputs differ only there share a group.
      - The report shows the output of the first host of each group as it was, matches included.
    type: list
    elements: str
    default: []
    env:
      - name: AZLIN_FLEET_IGNORE_PATTERNS
    ini:
      - section: callback_fleet_report
        key: ignore_patterns
    version_added: 0.1.0
  ignore_whitespace:
    description:
      - Compare outputs with runs of whitespace collapsed, and leading and trailing blank space removed.
      - Leave V(false) when spacing matters (tables, YAML).
    type: bool
    default: false
    env:
      - name: AZLIN_FLEET_IGNORE_WHITESPACE
    ini:
      - section: callback_fleet_report
        key: ignore_whitespace
    version_added: 0.1.0
  include_stderr:
    description:
      - Append stderr to stdout when outputs are compared and shown.
      - Set V(false) to group hosts by stdout alone, for commands that print noise on stderr.
    type: bool
    default: true
    env:
      - name: AZLIN_FLEET_INCLUDE_STDERR
    ini:
      - section: callback_fleet_report
        key: include_stderr
    version_added: 0.1.0
  max_output:
    description:
      - Outputs longer than this many characters are kept as their head and tail with a truncation marker between.
      - Grouping still compares the whole output (by a hash of its full content); only the stored text is cut.
      - Outputs over 1 MiB (and over four times this limit) are masked, hashed and cut window by window (windows
        of whole lines), so a huge output costs the controller a few windows of memory, not copies of it;
        O(ignore_patterns) then apply within a window.
      - V(0) keeps outputs whole (and every output is then held whole).
    type: int
    default: 65536
    env:
      - name: AZLIN_FLEET_MAX_OUTPUT
    ini:
      - section: callback_fleet_report
        key: max_output
    version_added: 0.1.0
  normalize_hosts:
    description:
      - "Before outputs are compared, replace each host's own identity in its output by the placeholder C({host}):
        its inventory name, its address (C(ansible_host)), and the hostnames and addresses its results reveal
        (gathered facts, a C(fleet_hostname) result field)."
      - Outputs that differ only by the host that printed them (C(hostname), C(deployed on web-3)) then form one
        group, and diffs show only real differences.
      - A name is replaced only as a whole word of a host name or address, so C(web-1) is left alone inside
        C(web-10) or C(10.0.0.12).
      - The report keeps, for each host, the names its placeholders stand for (C(identity) in the JSON report, a
        table in the HTML report), so every host's own text stays reachable.
      - Set V(false) to compare outputs exactly as printed.
    type: bool
    default: true
    env:
      - name: AZLIN_FLEET_NORMALIZE_HOSTS
    ini:
      - section: callback_fleet_report
        key: normalize_hosts
    version_added: 0.1.0
  diff_context:
    description:
      - Lines of context around each change in the diffs of divergent groups against the baseline.
    type: int
    default: 3
    env:
      - name: AZLIN_FLEET_DIFF_CONTEXT
    ini:
      - section: callback_fleet_report
        key: diff_context
    version_added: 0.1.0
"""

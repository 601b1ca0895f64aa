# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes shared by the pipeline's controller-only actions (plan, tally, judge, nothing_selected)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  platform:
    description: Runs on the controller only; it never connects to a host.
    support: N/A
    platforms: posix
"""
